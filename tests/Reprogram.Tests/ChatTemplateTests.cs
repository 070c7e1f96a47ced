using System.Text.Json;
using System.Text.Json.Nodes;
using Reprogram.Experiments;
using Reprogram.Instruction;
using Reprogram.Models.Causal;
using Xunit;

namespace Reprogram.Tests;

/// <summary>Real chat templates rendered by Python's jinja2 (reference_chat_templates.py) for several chats.</summary>
public sealed class ChatTemplateRenderings
{
    public JsonArray Templates { get; }

    public ChatTemplateRenderings()
    {
        var output = Path.Combine(Path.GetTempPath(), $"reprogram-chat-{Guid.NewGuid():N}.json");
        PythonReference.Script("reference_chat_templates.py", [output], TimeSpan.FromMinutes(1), "python3-jinja2");
        Templates = JsonNode.Parse(File.ReadAllText(output))!.AsArray();
        File.Delete(output);
    }
}

public sealed class ChatTemplateTests : IClassFixture<ChatTemplateRenderings>, IClassFixture<DecoderCheckpoints>
{
    private readonly ChatTemplateRenderings renderings;
    private readonly DecoderCheckpoints checkpoints;

    public ChatTemplateTests(ChatTemplateRenderings renderings, DecoderCheckpoints checkpoints) => (this.renderings, this.checkpoints) = (renderings, checkpoints);

    public static TheoryData<string> TemplateNames => new() { "chatml", "qwen2-instruct", "qwen1.5-chat", "smollm2-instruct", "llama3-instruct" };

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void Real_templates_are_recognised_and_rendered_exactly_as_jinja2_renders_them(string name)
    {
        var fixture = renderings.Templates.Single(t => t!["name"]!.GetValue<string>() == name)!;
        var template = ChatTemplate.Recognise(fixture["template"]!.GetValue<string>(), "<|begin_of_text|>", name);
        Assert.Equal(fixture["family"]!.GetValue<string>(), template.Name);
        var cases = fixture["cases"]!.AsArray();
        Assert.True(cases.Count >= 10);
        foreach (var c in cases)
        {
            var messages = c!["messages"]!.AsArray().Select(m => new ChatTurn(m!["role"]!.GetValue<string>(), m["content"]!.GetValue<string>())).ToArray();
            var generation = c["add_generation_prompt"]!.GetValue<bool>();
            var expected = c["rendered"]!.GetValue<string>();
            Assert.Equal(expected, template.Render(messages, generation));
        }
    }

    [Fact]
    public void Default_system_messages_are_read_from_the_template()
    {
        string Of(string name) => renderings.Templates.Single(t => t!["name"]!.GetValue<string>() == name)!["template"]!.GetValue<string>();
        Assert.Equal("You are a helpful assistant.", ChatTemplate.Recognise(Of("qwen2-instruct"), null).DefaultSystem);
        Assert.Equal("You are a helpful AI assistant named SmolLM, trained by Hugging Face", ChatTemplate.Recognise(Of("smollm2-instruct"), null).DefaultSystem);
        Assert.Null(ChatTemplate.Recognise(Of("chatml"), null).DefaultSystem);
        Assert.Equal("<|eot_id|>", ChatTemplate.Recognise(Of("llama3-instruct"), "<|begin_of_text|>").EndOfTurn);
    }

    [Theory]
    // Llama 2 chat.
    [InlineData("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% endif %}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + message['content'].strip() + ' [/INST]' }}{% endif %}{% endfor %}", "Llama 2 / Mistral [INST] format")]
    // Llama 3.1: a dated system header.
    [InlineData("{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}{%- endif %}{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}", "dated system header")]
    // Qwen2.5: tools.
    [InlineData("{%- if tools %}\n    {{- '<|im_start|>system\\n' }}{%- endif %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}", "tool calls")]
    // Qwen3: thinking.
    [InlineData("{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}<|im_end|>", "thinking switch")]
    public void Other_templates_are_refused_naming_what_was_found(string template, string expected)
    {
        var e = Assert.Throws<NotSupportedException>(() => ChatTemplate.Recognise(template, "<s>", "tokenizer_config.json"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("tokenizer_config.json", e.Message);
    }

    [Theory]
    [InlineData("chatml")]
    [InlineData("qwen2")]
    [InlineData("llama3")]
    public void A_prompt_split_for_caching_concatenates_to_its_rendering(string name)
    {
        var format = PromptFormat.ForChat(ChatTemplate.ByName(name), "</s>", "named");
        foreach (var (prefix, full) in new[] { ("Review: good\nSentiment: positive\n\n", "Review: good\nSentiment: positive\n\nReview: bad\nSentiment:"),
                                                ("  \nlead", "  \nlead and more  "), ("", "only a query"), ("all", "all") })
        {
            var (shared, own) = format.Split(prefix, full);
            Assert.Equal(format.Render(full), shared + own);
            Assert.StartsWith(format.Head, shared);
            Assert.EndsWith(format.Tail, own);
        }
        var plain = PromptFormat.WithBos("<s>");
        Assert.Equal(("<s>ab", "c"), plain.Split("ab", "abc"));
    }

    [Fact]
    public void A_checkpoint_with_a_chat_template_runs_icl_and_cot_as_a_chat_model_and_shows_the_exact_prompt()
    {
        var folder = checkpoints.Folder("mistral");
        var icl = new InContextOptions
        {
            Model = folder, Task = "sentiment", Queries = 6, Pool = 8, Seeds = [0], Shots = [0, 2], Chat = "template", ShowPrompt = true, Device = "cpu",
        };
        var result = InContextLearning.Run(icl);
        Assert.Equal(result.ChecksumBefore, result.ChecksumAfter);
        var record = result.Settings.First(s => s.Shots == 2).Records[0];
        Assert.StartsWith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n", record.Prompt);
        Assert.EndsWith("<|im_end|>\n<|im_start|>assistant\n", record.Prompt);

        // The rendered special tokens are single tokens of the checkpoint's tokenizer.
        using var model = InstructionModel.Load(folder, TorchSharp.torch.CPU, chat: "template");
        Assert.Equal("chat: qwen2 (the checkpoint's chat_template)", model.Format.Name);
        var ids = HfTokenizer.Load(folder).EncodeToIds(model.RenderPrompt("hi"));
        Assert.Equal(300, ids[0]);
        Assert.Contains(301, ids);

        // Generation through the chat format: the answer stops at <|im_end|> or </s> and never contains them.
        var cot = new ChainOfThoughtOptions { Model = folder, Queries = 3, Pool = 4, Modes = ["direct"], MaxNewTokens = 12, Chat = "template", Device = "cpu" };
        var chain = ChainOfThought.Run(cot);
        Assert.Equal(chain.ChecksumBefore, chain.ChecksumAfter);
        Assert.All(chain.Settings.SelectMany(s => s.Records), r => Assert.DoesNotContain("<|im_end|>", r.Output));
        // Without --show-prompt the records keep the template's own text.
        Assert.DoesNotContain("<|im_start|>", chain.Settings[0].Records[0].Prompt);

        // Plain prompts of a Llama-style checkpoint start with its BOS, as Hugging Face's tokenizer adds it.
        using var plain = InstructionModel.Load(folder, TorchSharp.torch.CPU);
        Assert.Equal("<s>hi", plain.RenderPrompt("hi"));
    }

    [Fact]
    public void Chat_options_that_cannot_apply_are_refused_with_the_reason()
    {
        Assert.Contains("zoo model", Assert.Throws<ArgumentException>(() => InstructionModel.Load("icl-rules", TorchSharp.torch.CPU, chat: "template")).Message);
        Assert.Contains("not a --chat value", Assert.Throws<ArgumentException>(() => new InContextOptions { Chat = "vicuna" }.Validate()).Message);
        // A checkpoint without a chat template asked for its template.
        var bare = Path.Combine(checkpoints.Root, "llama");
        Assert.Contains("has no chat template", Assert.Throws<ArgumentException>(() => PromptFormat.ForCheckpoint(bare, "template")).Message);
        // A named format whose end-of-turn token the tokenizer lacks cannot stop generation.
        var folder = checkpoints.Folder("mistral");
        Assert.Contains("<|eot_id|>", Assert.Throws<ArgumentException>(() => InstructionModel.Load(folder, TorchSharp.torch.CPU, chat: "llama3")).Message);
    }
}
