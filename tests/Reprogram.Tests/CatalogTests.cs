using System.Text.RegularExpressions;
using Reprogram.Taxonomy;

namespace Reprogram.Tests;

public class CatalogTests
{
    [Fact]
    public void Holds_every_method_of_the_shared_catalog_with_a_well_formed_arxiv_id()
    {
        Assert.Equal(36, Catalog.Methods.Count);
        Assert.Equal(Catalog.Methods.Count, Catalog.Methods.Select(m => m.Name).Distinct().Count());
        Assert.All(Catalog.Methods, m =>
        {
            Assert.Matches(new Regex(@"^\d{4}\.\d{4,5}$"), m.ArXivId);
            Assert.InRange(m.Year, 2019, 2025);
            Assert.NotEmpty(m.Formats);
            Assert.NotEmpty(m.Locations);
            Assert.NotEmpty(m.Operators);
            Assert.NotEmpty(m.Alignments);
            Assert.False(string.IsNullOrWhiteSpace(m.Title), $"{m.Name} has no title");
        });
    }

    [Theory]
    [InlineData("ILM-VP", "2211.11635", "Learnable · Input · Additive · Statistical")]
    [InlineData("Prefix-tuning", "2101.00190", "Learnable · Hidden · Concatenative · Identity")]
    [InlineData("Zero-shot CoT", "2205.11916", "Fixed · Input · Concatenative · Rule-based")]
    [InlineData("VPT-shallow / VPT-deep", "2203.12119", "Learnable · Embedding / Hidden · Concatenative · Linear")]
    [InlineData("Voice2Series", "2106.09296", "Learnable · Input · Additive · Statistical")]   // Pad(x) + M ⊙ θ (Sec. 3.1)
    [InlineData("WARP", "2101.00121", "Learnable · Embedding · Concatenative · Linear")]      // trainable prompt embeddings (Sec. 3, Fig. 3)
    public void Rows_carry_the_catalog_coordinates(string name, string arXiv, string coordinates)
    {
        var m = Catalog.Find(name);
        Assert.Equal(arXiv, m.ArXivId);
        Assert.Equal($"{name}: {coordinates}", m.ToString());
    }

    [Fact]
    public void Rows_corrected_from_their_papers_cite_the_section()
    {
        Assert.Contains("Sec. 3.1", Catalog.Find("Voice2Series").Note);
        Assert.Contains("Sec. 3", Catalog.Find("WARP").Note);
        Assert.Contains("--method p-tuning-v2", Catalog.Find("P-tuning v2").Note);
        Assert.Contains("--method vpt-deep", Catalog.Find("VPT-shallow / VPT-deep").Note);
    }

    [Fact]
    public void Paradigm_membership_follows_the_survey()
    {
        Assert.Equal(14, Catalog.Methods.Count(m => m.Paradigm == Paradigm.ModelReprogramming));
        Assert.Equal(12, Catalog.Methods.Count(m => m.Paradigm == Paradigm.PromptTuning));
        Assert.Equal(10, Catalog.Methods.Count(m => m.Paradigm == Paradigm.PromptInstruction));
        // Prompt instruction is exactly the fixed-format part of the catalog.
        Assert.All(Catalog.Methods, m => Assert.Equal(m.Paradigm == Paradigm.PromptInstruction, m.Formats.SequenceEqual([Format.Fixed])));
    }

    [Fact]
    public void Find_reports_unknown_names_with_the_known_ones()
    {
        var e = Assert.Throws<TaxonomyException>(() => Catalog.Find("GPT-7 prompting"));
        Assert.Contains("ILM-VP", e.Message);
    }

    [Fact]
    public void Query_filters_or_within_and_across_dimensions()
    {
        var rows = Catalog.Query().Where(Dimension.Location, "embedding", "hidden").Where(Format.Learnable).Where(OutputAlignment.Linear).Methods();
        Assert.Equal(["WARP", "Time-LLM", "Antibody infilling reprogramming", "P-tuning v2", "VPT-shallow / VPT-deep", "CoOp", "CoCoOp", "MaPLe"],
                     rows.Select(m => m.Name));
    }

    [Fact]
    public void Query_groups_sorts_and_searches()
    {
        var view = Catalog.Query().Group(CatalogColumn.Operator).Sort(CatalogColumn.Year).Run();
        Assert.Equal(["Additive", "Concatenative", "Parametric"], view.Groups.Select(g => g.Key));
        Assert.Equal(Catalog.Methods.Count, view.Groups.Sum(g => g.Methods.Count));
        Assert.True(view.Methods.Select(m => m.Year).SequenceEqual(view.Methods.Select(m => m.Year).Order()));

        Assert.Equal(["SMM (sample-specific masks)"], Catalog.Query().Search("sample-specific").Methods().Select(m => m.Name));
        Assert.Equal("location = Hidden; text contains \"x\"", Catalog.Query().Where(Location.Hidden).Search("x").Describe());
    }

    [Fact]
    public void Spread_counts_each_value_by_paradigm()
    {
        var spread = Catalog.Query().Run().Spread(Dimension.Location);
        int Count(string value, Paradigm p) => spread.Single(s => s.Value == value && s.Paradigm == p).Count;
        Assert.Equal(1, Count("Hidden", Paradigm.PromptInstruction)); // structured prompting
        Assert.Equal(4, Count("Hidden", Paradigm.PromptTuning));      // prefix, P-tuning v2, VPT, MaPLe
        Assert.Equal(Catalog.Methods.Count(m => m.Locations.Contains(Location.Input)),
                     Enum.GetValues<Paradigm>().Sum(p => Count("Input", p)));
    }

    [Fact]
    public void Neighbours_are_exact_matches_and_one_dimension_away()
    {
        var point = new Coordinates(Format.Learnable, Location.Embedding, Operator.Concatenative, OutputAlignment.Identity);
        var n = Catalog.NeighboursOf(point);
        Assert.Contains(n.Same, m => m.Name == "Prompt tuning");
        Assert.Contains(n.Same, m => m.Name == "CoCoOp"); // Identity / Linear
        Assert.Contains(n.OneDimensionAway, x => x.Method.Name == "PTR" && x.Differs == Dimension.Alignment);
        Assert.Contains(n.OneDimensionAway, x => x.Method.Name == "Prefix-tuning" && x.Differs == Dimension.Location);
        Assert.DoesNotContain(n.OneDimensionAway, x => x.Method.Name == "ILM-VP");
    }
}
