using System.Reflection;
using Microsoft.DotNet.Interactive.Directives;
using Microsoft.DotNet.Interactive.Events;
using Reprogram.Interactive.Directives;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// One name per meaning across the magic commands: the new names work, the older ones still do and give the same
/// results, their help names the new ones, both with different values is an error naming both, and the load message
/// points at #!lsmagic.
/// </summary>
public class OptionNameTests : KernelTestBase
{
    private KernelActionDirective Directive(string name) =>
        Kernel.KernelInfo.SupportedDirectives.OfType<KernelActionDirective>().Single(d => d.Name == name);

    private async Task<T> Value<T>(string expression) =>
        (T)(await SubmitOk(expression)).Events.OfType<ReturnValueProduced>().Single().Value;

    [Fact]
    public void Every_older_name_is_a_parameter_whose_help_names_the_new_one_and_the_new_one_says_the_older_still_works()
    {
        Assert.NotEmpty(OptionAliases.All);
        foreach (var alias in OptionAliases.All)
        {
            var parameters = Directive(alias.Directive).Parameters;
            var old = parameters.SingleOrDefault(p => p.Name == alias.Alias);
            Assert.True(old is not null, $"{alias.Directive} has no {alias.Alias}");
            Assert.Contains($"Older name of {alias.Name}", old!.Description);
            var current = parameters.SingleOrDefault(p => p.Name == alias.Name);
            Assert.True(current is not null, $"{alias.Directive} has no {alias.Name}");
            Assert.Contains($"older name {alias.Alias} still works", current!.Description);
        }
        // --seeds and --load where the issue asks for them, with one syntax for seeds.
        foreach (var name in new[] { "#!reprogram", "#!soft-prompt", "#!icl", "#!cot", "#!compare" })
        {
            Assert.Contains("a count (3 = 0,1,2), a list (0,4,7) or a range (0-4)", Directive(name).Parameters.Single(p => p.Name == "--seeds").Description);
        }
        Assert.Contains(Directive("#!reprogram").Parameters, p => p.Name == "--load");
        Assert.Contains(Directive("#!soft-prompt").Parameters, p => p.Name == "--load");
        Assert.Contains(Directive("#!soft-prompt").Parameters, p => p.Name == "--save-peft");
    }

    [Fact]
    public void The_load_message_says_that_lsmagic_lists_the_commands_and_their_help_and_the_descriptions_list_the_options()
    {
        var message = (string)typeof(ReprogramKernelExtension).GetField("LoadedMessage", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
        Assert.Contains("<code>#!lsmagic</code> lists the commands with their help", message);
        // #!lsmagic shows each command's description: the options are listed at its end, older names marked.
        var reprogram = Directive("#!reprogram").Description!;
        Assert.Contains("Options: --model, --task", reprogram);
        Assert.Contains("--seeds", reprogram);
        Assert.Contains("--load", reprogram);
        Assert.Contains("(older names: --dataset for --task, --seed for --seeds)", reprogram);
        Assert.Contains("Options: --device, --threads.", Directive("#!device").Description);
    }

    [Fact]
    public async Task Taxonomy_and_manipulation_take_alignment_kind_and_still_alignment()
    {
        var now = string.Join("\n", Html(await SubmitOk("#!taxonomy --alignment-kind statistical --no-chart")));
        var before = string.Join("\n", Html(await SubmitOk("#!taxonomy --alignment statistical --no-chart")));
        Assert.Equal(before, now);
        Assert.Contains("ILM-VP", now);
        var all = string.Join("\n", Html(await SubmitOk("#!taxonomy --no-chart")));
        Assert.True(now.Length < all.Length, "the filter keeps fewer methods");
        var both = await SubmitFails("#!taxonomy --alignment-kind statistical --alignment linear");
        Assert.Contains("--alignment-kind 'statistical' and --alignment 'linear' disagree", both);
        Assert.Contains("--alignment-kind", await SubmitFails("#!taxonomy --alignment-kind sideways"));

        await SubmitOk("#!manipulation newName --format learnable --location input --operator additive --alignment-kind statistical");
        await SubmitOk("#!manipulation oldName --format learnable --location input --operator additive --alignment statistical");
        Assert.True(await Value<bool>("newName.Coordinates == oldName.Coordinates"));
        Assert.Contains("needs --alignment-kind", await SubmitFails("#!manipulation noKind --format learnable --location input --operator additive"));
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Reprogram_takes_task_and_seeds_and_still_dataset_and_seed_with_the_same_result()
    {
        const string small = "--model fashion-cnn --train 48 --test 24 --epochs 1 --batch 16";
        await SubmitOk($"#!reprogram {small} --dataset digits --seed 1 --name before");
        await SubmitOk($"#!reprogram {small} --task digits --seeds 1-1 --name now");
        Assert.True(await Value<bool>("now.Main.Metrics[\"test accuracy\"] == before.Main.Metrics[\"test accuracy\"] && now.Main.Seed == 1 && before.Main.Seed == 1"));
        await SubmitOk($"#!reprogram {small} --task digits --seeds 2 --name two");
        Assert.True(await Value<bool>("two.Main.Seeds.SequenceEqual(new[] { 0, 1 }) && two.Main.TestAccuracyPerSeed.Count == 2"));
        Assert.Contains("--task 'digits' and --dataset 'fashion-mnist' disagree", await SubmitFails($"#!reprogram {small} --task digits --dataset fashion-mnist"));
        Assert.Contains("--seed is the older name of --seeds", await SubmitFails($"#!reprogram {small} --task digits --seeds 2 --seed 1"));
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Soft_prompt_takes_manipulation_and_seeds_and_still_method_and_seed()
    {
        const string small = "--model icl-rules --task sentiment --train 16 --test 8 --tokens 2 --epochs 1 --batch 8 --max-length 40";
        await SubmitOk($"#!soft-prompt {small} --method soft --seed 3 --name before");
        await SubmitOk($"#!soft-prompt {small} --manipulation soft-prompt --seeds 3-3 --name now");
        Assert.True(await Value<bool>("now.Main.Name == before.Main.Name && now.Main.Metrics[\"test accuracy\"] == before.Main.Metrics[\"test accuracy\"] && now.Main.Seed == 3"));
        await SubmitOk($"#!soft-prompt {small} --manipulation prefix-tuning --reparameterise 8 --name prefix");
        Assert.Contains("prefix-tuning", await Value<string>("prefix.Main.Name"));
        Assert.Contains("disagree", await SubmitFails($"#!soft-prompt {small} --manipulation prefix --method soft"));
        Assert.Contains("not a prompt-tuning method", await SubmitFails($"#!soft-prompt {small} --manipulation pad"));
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Icl_and_cot_take_test_and_still_queries()
    {
        await SubmitOk("#!icl --model icl-rules --shots 1 --seeds 1 --test 6 --pool 8 --name now");
        await SubmitOk("#!icl --model icl-rules --shots 1 --seeds 1 --queries 6 --pool 8 --name before");
        Assert.True(await Value<bool>("now.Records.Count() == 6 && before.Records.Count() == 6 && now.All.First().Metrics[\"test accuracy\"] == before.All.First().Metrics[\"test accuracy\"]"));
        Assert.Contains("--test '6' and --queries '7' disagree", await SubmitFails("#!icl --model icl-rules --shots 1 --seeds 1 --test 6 --queries 7 --pool 8"));
        Assert.Contains("--test (queries) must be 1 to 100000", await SubmitFails("#!cot --model arith-cot --task addition --test 0"));
        await AssertKernelStillUsable();
    }
}
