using Reprogram.Taxonomy;

namespace Reprogram.Tests;

public class ManipulationTests
{
    [Theory]
    [InlineData("learnable", "input", "additive", "statistical", Paradigm.ModelReprogramming)]
    [InlineData("Learnable", "Embedding", "Parametric", "Linear", Paradigm.ModelReprogramming)]
    [InlineData("soft", "embedding", "concat", "identity", Paradigm.PromptTuning)]
    [InlineData("learnable", "hidden", "concatenative", "linear", Paradigm.PromptTuning)]
    [InlineData("fixed", "input", "concatenative", "structural", Paradigm.PromptInstruction)]
    [InlineData("FIXED", "Hidden", "Concatenative", "rule-based", Paradigm.PromptInstruction)]
    public void Typical_paradigm_follows_the_coordinates(string f, string l, string o, string a, Paradigm expected)
    {
        Assert.Equal(expected, Manipulation.Parse("m", f, l, o, a).Paradigm);
    }

    [Fact]
    public void Aliases_map_to_the_survey_values()
    {
        Assert.Equal(OutputAlignment.RuleBased, TaxonomyNames.ParseAlignment("Structural"));
        Assert.Equal(OutputAlignment.RuleBased, TaxonomyNames.ParseAlignment("rule_based"));
        Assert.Equal(Paradigm.PromptTuning, TaxonomyNames.ParseParadigm("prompt-tuning"));
        Assert.Equal(Dimension.Alignment, TaxonomyNames.ParseDimension("output alignment"));
    }

    [Fact]
    public void Fixed_parametric_is_contradictory()
    {
        var e = Assert.Throws<TaxonomyException>(() =>
            new Manipulation("g", Format.Fixed, Location.Input, Operator.Parametric, OutputAlignment.Identity));
        Assert.Contains("Parametric operator is a learned transform", e.Message);
    }

    [Fact]
    public void Explicit_paradigm_must_match_the_format()
    {
        var e = Assert.Throws<TaxonomyException>(() =>
            new Manipulation("p", Format.Fixed, Location.Embedding, Operator.Concatenative, OutputAlignment.Identity, paradigm: Paradigm.PromptTuning));
        Assert.Contains("Prompt tuning manipulations have a Learnable format", e.Message);

        var ok = new Manipulation("warp_like", Format.Learnable, Location.Input, Operator.Concatenative, OutputAlignment.Linear, paradigm: Paradigm.PromptTuning);
        Assert.Equal(Paradigm.PromptTuning, ok.Paradigm);
    }

    [Fact]
    public void Values_outside_the_main_table_are_explained()
    {
        var e = Assert.Throws<TaxonomyException>(() => Manipulation.Parse("r", "both", "input", "replacement", "linear"));
        Assert.Contains("hybrid format \"Both\"", e.Message);
        Assert.Contains("\"Replacement\" operator", e.Message);
        Assert.Contains("Allowed: Fixed, Learnable", e.Message);
        Assert.Contains("Allowed: Additive, Concatenative, Parametric", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("two words")]
    [InlineData("1st")]
    [InlineData("a-b")]
    public void Names_must_be_identifiers(string name)
    {
        Assert.Throws<TaxonomyException>(() => Manipulation.Parse(name, "fixed", "input", "concatenative", "identity"));
    }

    [Fact]
    public void Description_is_kept_and_trimmed()
    {
        var m = Manipulation.Parse("frame", "learnable", "input", "additive", "statistical", "  a frame  ");
        Assert.Equal("a frame", m.Description);
        Assert.Equal("frame: Learnable · Input · Additive · Statistical (Model reprogramming)", m.ToString());
    }
}
