using Reprogram.Models.Causal;
using Reprogram.Models.Tokenizers;

namespace Reprogram.Instruction;

/// <summary>
/// How a local checkpoint reads a prompt: the text as it is, with the tokenizer's BOS in front as Hugging Face's
/// tokenizer adds it (Llama 2, Llama 3), or as one user message in a chat template with the assistant's turn opened
/// (<c>--chat</c>). <see cref="Render"/> gives the exact text that is tokenised (special tokens written as text, which the
/// tokenizer reads as their ids); generation stops at <see cref="EndTokens"/>.
/// </summary>
public sealed class PromptFormat
{
    /// <summary>Values of --chat: off (plain prompts), template (the checkpoint's chat_template), or a format's name.</summary>
    public static IReadOnlyList<string> ChatOptions { get; } = ["off", "template", .. ChatTemplate.Names];

    private PromptFormat(string name, string head, string tail, ChatTemplate? chat, IReadOnlyList<string> endTokens)
    {
        (Name, Head, Tail, Chat, EndTokens) = (name, head, tail, chat, endTokens);
    }

    /// <summary>The text as it is: no BOS, no template (zoo models, remote models, checkpoints without a BOS).</summary>
    public static PromptFormat Plain { get; } = new("plain", "", "", null, []);

    /// <summary>Plain text after the BOS token's text.</summary>
    public static PromptFormat WithBos(string bos) => new($"plain, after {bos}", bos, "", null, []);

    /// <summary>One user message in <paramref name="chat"/>; generation ends at its end-of-turn token or <paramref name="eosToken"/>.</summary>
    public static PromptFormat ForChat(ChatTemplate chat, string? eosToken, string origin)
    {
        const string Sentinel = "\u0001USER\u0001";
        var rendered = chat.Render([new ChatTurn("user", Sentinel)]);
        var at = rendered.IndexOf(Sentinel, StringComparison.Ordinal);
        var ends = new List<string> { chat.EndOfTurn };
        if (eosToken is not null && eosToken != chat.EndOfTurn) ends.Add(eosToken);
        return new PromptFormat($"chat: {chat.Name} ({origin})", rendered[..at], rendered[(at + Sentinel.Length)..], chat, ends);
    }

    /// <summary>"plain", "plain, after &lt;s&gt;" or "chat: qwen2 (the checkpoint's chat_template)".</summary>
    public string Name { get; }
    /// <summary>What comes before the user's text (BOS, the template's system and user header).</summary>
    public string Head { get; }
    /// <summary>What comes after it (the end of the user's turn and the assistant's header).</summary>
    public string Tail { get; }
    public ChatTemplate? Chat { get; }
    /// <summary>Token texts that end a generated answer (the end of the assistant's turn, EOS); empty for plain prompts.</summary>
    public IReadOnlyList<string> EndTokens { get; }

    /// <summary>The ids of <see cref="EndTokens"/>; each must be one token of the tokenizer (a special token), or the format cannot stop.</summary>
    public IReadOnlyCollection<long> EndTokenIds(Func<string, long[]> encode) => EndTokens.Select(token =>
    {
        var ids = encode(token);
        return ids.Length == 1 ? ids[0] : throw new ArgumentException(
            $"The {Name} format ends a turn with '{token}', which this tokenizer reads as {ids.Length} tokens, not one: it is not a special token of this checkpoint.");
    }).ToHashSet();

    /// <summary>The exact text the model reads for a prompt.</summary>
    public string Render(string text) => Chat is null ? Head + text + Tail : Chat.Render([new ChatTurn("user", text)]);

    /// <summary>
    /// The rendering of <paramref name="full"/> cut where its first <paramref name="prefix"/> characters end (the part
    /// shared by many queries, which likelihood scoring caches). The two parts concatenate to <see cref="Render"/>(full).
    /// </summary>
    public (string Shared, string Own) Split(string prefix, string full)
    {
        if (!full.StartsWith(prefix, StringComparison.Ordinal)) throw new ArgumentException("The prompt does not start with its shared prefix.");
        var rendered = Render(full);
        // Llama 3 trims the message: the rendered content is the text less its outer whitespace.
        var content = rendered[Head.Length..^Tail.Length];
        // ("x" keeps the end from being stripped, so only the leading whitespace is counted.)
        var lead = Chat?.Name == ChatTemplate.Llama3 ? full.Length + 1 - ChatTemplate.PythonStrip(full + "x").Length : 0;
        if (!full.AsSpan(lead).StartsWith(content, StringComparison.Ordinal) || !rendered.StartsWith(Head, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The {Name} rendering of a prompt is not its head, its text and its tail; it cannot be split for caching.");
        }
        var cut = Math.Clamp(prefix.Length - lead, 0, content.Length);
        return (Head + content[..cut], content[cut..] + Tail);
    }

    /// <summary>
    /// The format of a checkpoint folder for <paramref name="chat"/>: null or "off" (plain, with the tokenizer's BOS as
    /// Hugging Face adds it), "template" (its tokenizer_config.json chat_template, recognised or refused), or a format's
    /// name (chatml, qwen2, llama3) for a checkpoint trained on it.
    /// </summary>
    public static PromptFormat ForCheckpoint(string folder, string? chat)
    {
        var config = TokenizerConfig.Read(folder);
        if (chat is null or "off")
        {
            return HfTokenizer.PromptBos(folder) is { Length: > 0 } bos ? WithBos(bos) : Plain;
        }
        if (chat == "template")
        {
            var template = config.ChatTemplate ?? throw new ArgumentException(
                $"{Path.GetFullPath(folder)} has no chat template (no chat_template in {TokenizerConfig.FileName}, no chat_template.jinja): " +
                $"run it without --chat, or name a format: --chat {string.Join("|", ChatTemplate.Names)}.");
            return ForChat(ChatTemplate.Recognise(template, config.BosToken, config.Path ?? folder), config.EosToken, "the checkpoint's chat_template");
        }
        if (!ChatOptions.Contains(chat)) throw new ArgumentException($"'{chat}' is not a --chat value. Allowed: {string.Join(", ", ChatOptions)}.");
        return ForChat(ChatTemplate.ByName(chat, config.BosToken), config.EosToken, "named");
    }
}
