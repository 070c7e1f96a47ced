using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Events;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive.Tests;

public class TaxonomyDirectiveTests : KernelTestBase
{
    private static int MethodRows(string html) => Regex.Matches(html, "<td><a href=\"https://arxiv.org/abs/").Count;

    private static string Table(KernelCommandResult result) => Html(result).Single(h => h.Contains("rp-catalog"));

    [Fact]
    public async Task Shows_every_published_method_with_venue_year_arxiv_and_coordinates()
    {
        var result = await SubmitOk("#!taxonomy");
        var table = Table(result);
        Assert.Equal(Catalog.Methods.Count, MethodRows(table));
        Assert.True(Catalog.Methods.Count >= 36);
        foreach (var m in Catalog.Methods)
        {
            Assert.Contains(System.Net.WebUtility.HtmlEncode(m.Name), table);
            Assert.Contains($"arXiv {m.ArXivId}", table);
            Assert.Contains($"{System.Net.WebUtility.HtmlEncode(m.Venue)} {m.Year}", table);
        }
        Assert.Contains("rp-v-rule-based", table);
    }

    [Fact]
    public async Task Draws_a_spread_chart_with_offline_plotly_once()
    {
        var first = await SubmitOk("#!taxonomy");
        var chart = Html(first).Single(h => h.Contains("rp-plotly"));
        Assert.Contains("Plotly.newPlot", chart);
        Assert.Contains("embedded for offline use", chart);
        Assert.DoesNotContain("src=\"https://cdn.plot.ly", chart);
        Assert.Contains("\"barmode\":\"stack\"", chart);

        var second = await SubmitOk("#!taxonomy --paradigm prompt-tuning");
        var chart2 = Html(second).Single(h => h.Contains("rp-plotly"));
        Assert.DoesNotContain("embedded for offline use", chart2);
        Assert.True(chart2.Length < 100_000, "plotly.js must be sent once per session, not with every chart");
    }

    [Fact]
    public async Task Filters_by_location()
    {
        var table = Table(await SubmitOk("#!taxonomy --location hidden"));
        var expected = Catalog.Methods.Where(m => m.Locations.Contains(Location.Hidden)).ToArray();
        Assert.Equal(expected.Length, MethodRows(table));
        Assert.Contains("Prefix-tuning", table);
        Assert.Contains("Structured prompting", table);
        Assert.DoesNotContain(">WARP<", table);
    }

    [Fact]
    public async Task Combines_filters_across_and_within_dimensions()
    {
        var table = Table(await SubmitOk("#!taxonomy --format learnable --operator additive,parametric --modality image"));
        var expected = Catalog.Methods.Where(m => m.Formats.Contains(Format.Learnable)
                                                 && m.Operators.Any(o => o is Operator.Additive or Operator.Parametric)
                                                 && m.Modality == Modality.Image).ToArray();
        Assert.NotEmpty(expected);
        Assert.Equal(expected.Length, MethodRows(table));
        Assert.Contains("ILM-VP", table);
        Assert.DoesNotContain("Voice2Series", table); // time series, not image
    }

    [Fact]
    public async Task Filters_by_paradigm_alias_and_alignment()
    {
        var table = Table(await SubmitOk("#!taxonomy --paradigm pi --alignment statistical"));
        Assert.Equal(2, MethodRows(table)); // calibrate before use, self-consistency
        Assert.Contains("Calibrate before use", table);
        Assert.Contains("Self-consistency", table);
    }

    [Fact]
    public async Task Groups_by_paradigm()
    {
        var table = Table(await SubmitOk("#!taxonomy --group-by paradigm --no-chart"));
        var groups = Regex.Matches(table, "<tr class=\"rp-group\"><td colspan=\"\\d+\">([^<]+)</td>").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(
            Enum.GetValues<Paradigm>().Select(p => $"{TaxonomyNames.Of(p)} ({Catalog.Methods.Count(m => m.Paradigm == p)})"),
            groups);
    }

    [Fact]
    public async Task No_chart_flag_shows_the_table_only()
    {
        var result = await SubmitOk("#!taxonomy --no-chart");
        Assert.DoesNotContain(Html(result), h => h.Contains("rp-plotly"));
    }

    [Fact]
    public async Task Sorts_by_year_descending()
    {
        var table = Table(await SubmitOk("#!taxonomy --sort-by year --descending --no-chart"));
        var years = Regex.Matches(table, @", [^<,]+ (\d{4})<br>").Select(m => int.Parse(m.Groups[1].Value)).ToArray();
        Assert.Equal(Catalog.Methods.Count, years.Length);
        Assert.Equal(years.OrderByDescending(y => y), years);
        Assert.Equal(2024, years[0]);
    }

    [Fact]
    public async Task Search_finds_by_text()
    {
        var table = Table(await SubmitOk("#!taxonomy --search Bayesian"));
        Assert.Equal(1, MethodRows(table));
        Assert.Contains("BLM", table);
    }

    [Fact]
    public async Task A_filter_with_no_match_says_so()
    {
        var result = await SubmitOk("#!taxonomy --format fixed --operator parametric");
        Assert.Contains("No published method matches", Table(result));
        Assert.DoesNotContain(Html(result), h => h.Contains("rp-plotly"));
    }

    [Fact]
    public async Task Bad_value_names_the_allowed_values_and_keeps_the_kernel_usable()
    {
        var message = await SubmitFails("#!taxonomy --location output");
        Assert.Contains("Allowed: Input, Embedding, Hidden", message);
        Assert.Contains("meta file", message); // explains where "Output" comes from
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Bad_group_by_column_is_refused()
    {
        var message = await SubmitFails("#!taxonomy --group-by colour");
        Assert.Contains("not a catalog column", message);
        Assert.Contains("paradigm", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Unknown_option_is_a_directive_error()
    {
        var message = await SubmitFails("#!taxonomy --colour red");
        Assert.Contains("--colour", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Values_complete_in_the_editor()
    {
        var code = "#!taxonomy --location ";
        var result = await Kernel.SendAsync(new RequestCompletions(code, new LinePosition(0, code.Length)));
        var items = result.Events.OfType<CompletionsProduced>().Single().Completions.Select(c => c.InsertText ?? c.DisplayText).ToArray();
        Assert.Contains(items, i => i.Contains("embedding"));
        Assert.Contains(items, i => i.Contains("hidden"));
    }

    [Fact]
    public async Task Every_magic_command_and_option_has_help_text()
    {
        var directives = Kernel.KernelInfo.SupportedDirectives.OfType<Microsoft.DotNet.Interactive.Directives.KernelActionDirective>()
            .Where(d => d.Name is "#!taxonomy" or "#!manipulation").ToArray();
        Assert.Equal(2, directives.Length);
        foreach (var d in directives)
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Description), d.Name);
            Assert.All(d.Parameters, p => Assert.False(string.IsNullOrWhiteSpace(p.Description), $"{d.Name} {p.Name}"));
        }
        await Task.CompletedTask;
    }

    [Fact]
    public async Task The_csharp_api_gives_the_same_view()
    {
        var result = await SubmitOk("Catalog.Query().Where(Location.Hidden).Group(CatalogColumn.Paradigm).Run()");
        var html = result.Events.OfType<ReturnValueProduced>().Single().FormattedValues.Single(v => v.MimeType == "text/html").Value;
        Assert.Equal(Catalog.Methods.Count(m => m.Locations.Contains(Location.Hidden)), MethodRows(html));
        Assert.Contains("rp-group", html);

        var chart = await SubmitOk("TaxonomyCharts.Spread(Catalog.Query().Run())");
        var chartHtml = chart.Events.OfType<ReturnValueProduced>().Single().FormattedValues.Single(v => v.MimeType == "text/html").Value;
        Assert.Contains("Plotly.newPlot", chartHtml);
    }
}
