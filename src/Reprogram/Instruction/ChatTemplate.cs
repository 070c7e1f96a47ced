using System.Text;
using System.Text.RegularExpressions;

namespace Reprogram.Instruction;

/// <summary>One message of a chat: role (system, user, assistant) and text.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>
/// An instruct checkpoint's chat template, recognised and rendered in code (there is no Jinja engine for .NET among
/// the packages this project can use). Three families are recognised, each rendered exactly as its Jinja template
/// renders (the tests render the real template strings with Python's jinja2 and compare):
/// <list type="bullet">
/// <item><b>chatml</b>: <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c> per message, <c>&lt;|im_start|&gt;assistant\n</c> to prompt the answer;</item>
/// <item><b>qwen2</b>: ChatML with the template's default system message in front when the chat has none
/// ("You are a helpful assistant." in Qwen2-Instruct; the text is read from the template);</item>
/// <item><b>llama3</b>: <c>{bos}&lt;|start_header_id|&gt;{role}&lt;|end_header_id|&gt;\n\n{content, trimmed}&lt;|eot_id|&gt;</c>
/// per message, <c>&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n</c> to prompt the answer (Meta Llama 3 Instruct).</item>
/// </list>
/// A template with these markers but more (tools, Llama 3.1/3.2's dated system header, Qwen3's thinking switch) or any
/// other template is refused with a message that names what was found: rendering it by a near guess would change the
/// prompt silently.
/// </summary>
public sealed class ChatTemplate
{
    public const string ChatMl = "chatml", Qwen2 = "qwen2", Llama3 = "llama3";
    public static IReadOnlyList<string> Names { get; } = [ChatMl, Qwen2, Llama3];

    private ChatTemplate(string name, string endOfTurn, string? defaultSystem, string bosToken, bool openLastTurn = false)
    {
        (Name, EndOfTurn, DefaultSystem, BosToken, OpenLastTurn) = (name, endOfTurn, defaultSystem, bosToken, openLastTurn);
    }

    /// <summary>
    /// Qwen1.5-Chat's variant: without a generation prompt the last message is left open (no &lt;|im_end|&gt;), and no
    /// assistant turn is opened after an assistant message.
    /// </summary>
    public bool OpenLastTurn { get; }

    /// <summary>chatml, qwen2 or llama3.</summary>
    public string Name { get; }
    /// <summary>The token that ends a turn (&lt;|im_end|&gt;, &lt;|eot_id|&gt;): generation stops at it.</summary>
    public string EndOfTurn { get; }
    /// <summary>The system message put first when the chat has none (qwen2), or null.</summary>
    public string? DefaultSystem { get; }
    /// <summary>The BOS text llama3 starts with ("" for the ChatML family).</summary>
    public string BosToken { get; }

    /// <summary>A known format by name (for a checkpoint without a template, or to override it).</summary>
    public static ChatTemplate ByName(string name, string? bosToken = null) => name switch
    {
        ChatMl => new ChatTemplate(ChatMl, "<|im_end|>", null, ""),
        Qwen2 => new ChatTemplate(Qwen2, "<|im_end|>", "You are a helpful assistant.", ""),
        Llama3 => new ChatTemplate(Llama3, "<|eot_id|>", null, bosToken ?? "<|begin_of_text|>"),
        _ => throw new ArgumentException($"'{name}' is not a chat format. Allowed: {string.Join(", ", Names)} (or 'template' for the checkpoint's own)."),
    };

    /// <summary>
    /// Recognises a chat_template string; <see cref="NotSupportedException"/> naming what it found when it is none of
    /// the families above. <paramref name="bosToken"/> is the tokenizer's (tokenizer_config.json), which llama3 writes first.
    /// </summary>
    public static ChatTemplate Recognise(string template, string? bosToken, string source = "chat_template")
    {
        var flat = Regex.Replace(template, @"\s+", " ");
        string Excerpt() => flat.Length > 120 ? flat[..120] + "..." : flat;
        var unsupported = new[]
        {
            ("tools", "tool calls"), ("strftime_now", "today's date (Llama 3.2)"), ("Cutting Knowledge Date", "a dated system header (Llama 3.1)"),
            ("enable_thinking", "a thinking switch (Qwen3)"), ("<think>", "thinking tags"), ("raise_exception", "role checks that raise errors"),
        }.Where(u => template.Contains(u.Item1, StringComparison.Ordinal)).Select(u => u.Item2).ToList();
        if (template.Contains("<|start_header_id|>", StringComparison.Ordinal) && template.Contains("<|eot_id|>", StringComparison.Ordinal))
        {
            Require(unsupported, "Llama 3", source, Excerpt);
            // The Meta Llama 3 Instruct template: bos_token first, each message's content trimmed.
            var plain = Regex.Replace(template, @"\s+", "");
            if (!plain.Contains("message['content']|trim", StringComparison.Ordinal) && !plain.Contains("message.content|trim", StringComparison.Ordinal) ||
                !plain.Contains("bos_token", StringComparison.Ordinal))
            {
                throw new NotSupportedException($"{source}: a Llama 3 style template that does not trim contents after bos_token as Meta's Llama 3 template does: \"{Excerpt()}\". Use --chat llama3 to apply Meta's format anyway.");
            }
            return ByName(Llama3, bosToken ?? "<|begin_of_text|>");
        }
        if (template.Contains("<|im_start|>", StringComparison.Ordinal) && template.Contains("<|im_end|>", StringComparison.Ordinal))
        {
            Require(unsupported, "ChatML", source, Excerpt);
            // A default system message: '<|im_start|>system\n...<|im_end|>\n' written as one literal in the template.
            var system = Regex.Match(template, @"'<\|im_start\|>system\\n((?:[^'\\]|\\.)*)<\|im_end\|>\\n'");
            var openLast = Regex.Replace(template, @"\s+", "").Contains("(loop.lastandadd_generation_prompt)ornotloop.last", StringComparison.Ordinal);
            if (system.Success)
            {
                return new ChatTemplate(Qwen2, "<|im_end|>", Regex.Unescape(system.Groups[1].Value.Replace("\\'", "'")), "", openLast);
            }
            if (template.Contains("system", StringComparison.Ordinal) && Regex.IsMatch(template, @"messages\[0\]\[?'?\.?role"))
            {
                throw new NotSupportedException($"{source}: a ChatML template that treats the system message specially in a way not recognised here: \"{Excerpt()}\".");
            }
            return openLast ? new ChatTemplate(ChatMl, "<|im_end|>", null, "", openLast) : ByName(ChatMl);
        }
        var looksLike = new[] { ("[INST]", "the Llama 2 / Mistral [INST] format"), ("<start_of_turn>", "the Gemma format"), ("<|user|>", "the Zephyr / Phi-3 format"),
            ("<|assistant|>", "the Zephyr / Phi-3 format"), ("### Instruction", "an Alpaca-style format") }
            .Where(m => template.Contains(m.Item1, StringComparison.Ordinal)).Select(m => m.Item2).Distinct().ToList();
        throw new NotSupportedException(
            $"{source}: the chat template {(looksLike.Count > 0 ? $"({string.Join(", ", looksLike)}) " : "")}\"{Excerpt()}\" is not one of the formats rendered here ({string.Join(", ", Names)}). " +
            "Run without --chat (plain prompts), or name a format with --chat chatml|qwen2|llama3 if the model was trained on it.");
    }

    private static void Require(List<string> unsupported, string family, string source, Func<string> excerpt)
    {
        if (unsupported.Count > 0)
        {
            throw new NotSupportedException($"{source}: a {family} template with {string.Join(", ", unsupported)} is not rendered here " +
                                            $"(only the plain {family} format is): \"{excerpt()}\".");
        }
    }

    /// <summary>The prompt text for these messages, as the template renders them; with <paramref name="addGenerationPrompt"/> the assistant's turn is opened.</summary>
    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt = true)
    {
        var text = new StringBuilder();
        switch (Name)
        {
            case Llama3:
                for (var i = 0; i < messages.Count; i++)
                {
                    if (i == 0) text.Append(BosToken);
                    text.Append("<|start_header_id|>").Append(messages[i].Role).Append("<|end_header_id|>\n\n")
                        .Append(PythonStrip(messages[i].Content)).Append("<|eot_id|>");
                }
                if (addGenerationPrompt) text.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
            default:
                if (DefaultSystem is not null && (messages.Count == 0 || messages[0].Role != "system"))
                {
                    // Qwen2's template adds it inside its loop over messages: an empty chat gets none.
                    if (messages.Count > 0) text.Append("<|im_start|>system\n").Append(DefaultSystem).Append("<|im_end|>\n");
                }
                for (var i = 0; i < messages.Count; i++)
                {
                    text.Append("<|im_start|>").Append(messages[i].Role).Append('\n').Append(messages[i].Content);
                    if (!OpenLastTurn || addGenerationPrompt || i < messages.Count - 1) text.Append("<|im_end|>\n");
                }
                if (addGenerationPrompt && !(OpenLastTurn && messages.Count > 0 && messages[^1].Role == "assistant")) text.Append("<|im_start|>assistant\n");
                break;
        }
        return text.ToString();
    }

    /// <summary>Jinja's trim filter is Python's str.strip(): it strips what Python calls whitespace (which differs from .NET's in a few control characters).</summary>
    internal static string PythonStrip(string s)
    {
        static bool Space(char c) => c is '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or '\u001c' or '\u001d' or '\u001e' or '\u001f' or '\u0085' or '\u00a0'
            or '\u1680' or >= '\u2000' and <= '\u200a' or '\u2028' or '\u2029' or '\u202f' or '\u205f' or '\u3000';
        var (start, end) = (0, s.Length);
        while (start < end && Space(s[start])) start++;
        while (end > start && Space(s[end - 1])) end--;
        return s[start..end];
    }
}
