using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Experiments;

namespace Reprogram.Interactive.Directives;

/// <summary>One older option name kept working on a directive, and the name that replaces it.</summary>
public sealed record OptionAlias(string Directive, string Alias, string Name, string Note = "");

/// <summary>
/// One name per meaning across the magic commands, with the older names kept as aliases (their help names the new one).
/// The magic-command parser has no aliases of its own, so an alias is a parameter of its own, bound to its own property,
/// and merged here: giving both names with different values is an error that names both.
/// </summary>
public static class OptionAliases
{
    /// <summary>Every alias, by directive (the README's "Options across commands" lists the same).</summary>
    public static IReadOnlyList<OptionAlias> All { get; } =
    [
        new("#!taxonomy", "--alignment", "--alignment-kind", "the output-alignment category ω (identity, linear, statistical, rule-based); --alignment is a method in the experiment commands"),
        new("#!manipulation", "--alignment", "--alignment-kind", "the output-alignment category ω"),
        new("#!reprogram", "--dataset", "--task", "fashion-mnist, digits or an image folder"),
        new("#!reprogram", "--seed", "--seeds", "--seed N is the one seed N (--seeds N is a count: 0..N-1)"),
        new("#!soft-prompt", "--method", "--manipulation", "soft, prefix, p-tuning-v2, vpt-deep (the registry's names soft-prompt, prefix-tuning, ... too)"),
        new("#!soft-prompt", "--seed", "--seeds", "--seed N is the one seed N (--seeds N is a count: 0..N-1)"),
        new("#!icl", "--queries", "--test", "test examples per seed"),
        new("#!cot", "--queries", "--test", "test examples per seed"),
    ];

    /// <summary>The extension's magic commands.</summary>
    public static IReadOnlyList<string> Commands { get; } =
        ["#!taxonomy", "#!manipulation", "#!device", "#!reprogram", "#!soft-prompt", "#!icl", "#!cot", "#!compare"];

    /// <summary>
    /// Ends each command's description with its options (older names in brackets), so that <c>#!lsmagic</c>, which shows
    /// the descriptions, lists them too; each option's own help is its completion's documentation in the editor.
    /// </summary>
    public static void AddOptionLists(Microsoft.DotNet.Interactive.Kernel root)
    {
        foreach (var directive in root.KernelInfo.SupportedDirectives.OfType<KernelActionDirective>().Where(d => Commands.Contains(d.Name)))
        {
            if (directive.Description?.Contains(" Options: ", StringComparison.Ordinal) == true) continue;
            directive.Description = (directive.Description ?? "").TrimEnd() + " " + OptionList(directive);
        }
    }

    /// <summary>"Options: --model, --task, ... (older names: --dataset for --task, ...)."</summary>
    public static string OptionList(KernelActionDirective directive)
    {
        var aliases = All.Where(a => a.Directive == directive.Name).ToArray();
        var names = directive.Parameters.Select(p => p.Name).Where(n => aliases.All(a => a.Alias != n)).ToArray();
        return $"Options: {string.Join(", ", names)}" +
               (aliases.Length == 0 ? "." : $" (older names: {string.Join(", ", aliases.Select(a => $"{a.Alias} for {a.Name}"))}).");
    }

    /// <summary>The alias's own parameter: its help says it is the older name of <paramref name="name"/>.</summary>
    public static KernelDirectiveParameter Parameter(string alias, string name, string? typeHint = null) =>
        new(alias, $"Older name of {name}, still accepted; use {name}.") { TypeHint = typeHint ?? "text" };

    /// <summary>The value given under the name or its alias; both with different values is an error naming both.</summary>
    public static string? Merge(string? value, string? aliasValue, string name, string alias)
    {
        if (value is not null && aliasValue is not null && !string.Equals(value.Trim(), aliasValue.Trim(), StringComparison.Ordinal))
        {
            throw new ArgumentException($"{name} '{value}' and {alias} '{aliasValue}' disagree: {alias} is the older name of {name}; give one of them.");
        }
        return value ?? aliasValue;
    }

    /// <summary>
    /// The seeds of <c>--seeds</c> ("0,1,2", "0-4" or a count) or of the older <c>--seed N</c> (the one seed N); null when neither is given.
    /// </summary>
    public static IReadOnlyList<int>? Seeds(string? seeds, string? seed)
    {
        if (seeds is not null && seed is not null) throw new ArgumentException($"--seeds '{seeds}' and --seed '{seed}': --seed is the older name of --seeds; give one of them.");
        if (seeds is not null) return InstructionOptionsBase.ParseSeeds(seeds);
        if (seed is not null) return [DirectiveValues.Int(seed, "--seed")!.Value];
        return null;
    }

    /// <summary>
    /// A prompt-tuning method by #!soft-prompt's own names (soft, prefix, p-tuning-v2, vpt-deep, deep) or by the registry's
    /// manipulation names and aliases (soft-prompt, prompt-tuning, prefix-tuning, ...), as #!compare and #!reprogram name them.
    /// </summary>
    public static string PromptTuningMethod(string value)
    {
        var v = value.Trim().ToLowerInvariant();
        if (PromptTuningOptions.Methods.Contains(v)) return v;
        var entry = Registries.Manipulations.Entries.FirstOrDefault(e => e.Aliases.Prepend(e.Name).Contains(v, StringComparer.OrdinalIgnoreCase));
        return entry?.Name switch
        {
            "soft-prompt" => "soft",
            "prefix" => "prefix",
            "p-tuning-v2" => "p-tuning-v2",
            "vpt-deep" => "vpt-deep",
            _ => v,   // not a prompt-tuning method: validation names the allowed ones
        };
    }
}
