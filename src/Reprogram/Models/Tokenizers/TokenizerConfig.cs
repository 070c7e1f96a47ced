using System.Text.Json;

namespace Reprogram.Models.Tokenizers;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer_config.json</c> that change how prompts are written: the BOS/EOS tokens,
/// whether the BOS is added, the Llama tokenizer's <c>legacy</c> flag, added tokens, and the chat template. An absent
/// file is an empty config.
/// </summary>
public sealed record TokenizerConfig
{
    public const string FileName = "tokenizer_config.json";

    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    /// <summary>add_bos_token, when the file says.</summary>
    public bool? AddBosToken { get; init; }
    /// <summary>The Llama tokenizer's legacy flag (true: text after a special token gets a dummy prefix), when the file says.</summary>
    public bool? Legacy { get; init; }
    /// <summary>The chat template (the "default" one when the file lists several; else the folder's chat_template.jinja), or null.</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>added_tokens_decoder: content -> id.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens { get; init; } = new Dictionary<string, int>();
    /// <summary>Where it was read from, or null when the folder has none.</summary>
    public string? Path { get; init; }

    public static TokenizerConfig Read(string folder)
    {
        var path = System.IO.Path.Combine(folder, FileName);
        var jinja = System.IO.Path.Combine(folder, "chat_template.jinja");
        var separate = File.Exists(jinja) ? File.ReadAllText(jinja) : null;
        if (!File.Exists(path)) return new TokenizerConfig { ChatTemplate = separate, Path = separate is null ? null : jinja };
        JsonElement root;
        using (var doc = Files.CheckpointFolder.ReadJson(path)) root = doc.RootElement.Clone();
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in decoder.EnumerateObject())
            {
                if (int.TryParse(p.Name, out var id) && p.Value.TryGetProperty("content", out var c) && c.GetString() is { } content) added[content] = id;
            }
        }
        return new TokenizerConfig
        {
            BosToken = TokenText(root, "bos_token"),
            EosToken = TokenText(root, "eos_token"),
            AddBosToken = root.TryGetProperty("add_bos_token", out var ab) && ab.ValueKind is JsonValueKind.True or JsonValueKind.False ? ab.GetBoolean() : null,
            Legacy = root.TryGetProperty("legacy", out var l) && l.ValueKind is JsonValueKind.True or JsonValueKind.False ? l.GetBoolean() : null,
            ChatTemplate = Template(root, path) ?? separate,
            AddedTokens = added,
            Path = path,
        };
    }

    /// <summary>"bos_token": "&lt;s&gt;" or {"content": "&lt;s&gt;", ...}.</summary>
    private static string? TokenText(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var e)) return null;
        return e.ValueKind switch
        {
            JsonValueKind.String => e.GetString(),
            JsonValueKind.Object when e.TryGetProperty("content", out var c) => c.GetString(),
            _ => null,
        };
    }

    /// <summary>"chat_template": "..." or [{"name": "default", "template": "..."}, {"name": "tool_use", ...}].</summary>
    private static string? Template(JsonElement root, string path)
    {
        if (!root.TryGetProperty("chat_template", out var e)) return null;
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray())
                {
                    if (item.TryGetProperty("name", out var n) && n.GetString() == "default" && item.TryGetProperty("template", out var t)) return t.GetString();
                }
                throw new InvalidDataException($"{path}: chat_template lists templates ({string.Join(", ", e.EnumerateArray().Select(i => i.TryGetProperty("name", out var n) ? n.GetString() : "?"))}) but none named 'default'.");
            case JsonValueKind.Null:
                return null;
            default:
                throw new InvalidDataException($"{path}: chat_template is neither a string nor a list of named templates.");
        }
    }
}
