using static Reprogram.Taxonomy.Format;
using static Reprogram.Taxonomy.Location;
using static Reprogram.Taxonomy.Operator;
using static Reprogram.Taxonomy.OutputAlignment;

namespace Reprogram.Taxonomy;

/// <summary>
/// The catalog of published methods with their coordinates. Source: the survey (Ye et al., arXiv 2506.04650) and its
/// authors' public paper list; rows with a note follow the method's own paper where that list is self-contradictory.
/// </summary>
public static partial class Catalog
{
    /// <summary>Every published method in the catalog, in the survey's order (model reprogramming, prompt tuning, prompt instruction).</summary>
    public static IReadOnlyList<PublishedMethod> Methods { get; } = Build();

    /// <summary>The method with this name (case-insensitive), or an error that lists close names.</summary>
    public static PublishedMethod Find(string name)
    {
        var hit = Methods.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
                  ?? Methods.FirstOrDefault(m => m.Name.Contains(name, StringComparison.OrdinalIgnoreCase));
        return hit ?? throw new TaxonomyException(
            $"No published method called '{name}' in the catalog. Known: {string.Join(", ", Methods.Select(m => m.Name))}.");
    }

    /// <summary>Starts a query over the catalog: filter, group and sort.</summary>
    public static CatalogQuery Query() => new(Methods);

    /// <summary>Published methods whose coordinates contain the point exactly, and those that differ in one dimension.</summary>
    public static Neighbours NeighboursOf(Coordinates point)
    {
        var same = new List<PublishedMethod>();
        var oneOff = new List<(PublishedMethod, Dimension)>();
        foreach (var m in Methods)
        {
            var diff = m.DifferingDimensions(point);
            if (diff.Count == 0) same.Add(m);
            else if (diff.Count == 1) oneOff.Add((m, diff[0]));
        }
        return new Neighbours(same, oneOff.Select(x => new Neighbour(x.Item1, x.Item2)).ToArray());
    }

    private static PublishedMethod M(
        string name, string authors, string venue, int year, string arXiv,
        Modality modality, string modalityDetail, Paradigm paradigm,
        Format[] format, Location[] location, Operator[] op, OutputAlignment[] alignment, string? note = null) => new()
        {
            Name = name, Authors = authors, Venue = venue, Year = year, ArXivId = arXiv,
            Modality = modality, ModalityDetail = modalityDetail, Paradigm = paradigm,
            Formats = format, Locations = location, Operators = op, Alignments = alignment, Note = note,
            Title = TitleOf(name),
        };

    private static IReadOnlyList<PublishedMethod> Build()
    {
        const Paradigm MR = Paradigm.ModelReprogramming, PT = Paradigm.PromptTuning, PI = Paradigm.PromptInstruction;
        const Modality Img = Modality.Image, Txt = Modality.Text;
        return
        [
            // Model reprogramming
            M("Adversarial reprogramming", "Elsayed, Goodfellow, Sohl-Dickstein", "ICLR", 2019, "1806.11146", Img, "image", MR, [Learnable], [Input], [Additive], [Statistical]),
            M("AR of text classifiers", "Neekhara et al.", "EMNLP", 2019, "1809.01829", Txt, "text", MR, [Learnable], [Embedding], [Parametric], [Statistical]),
            M("BAR (black-box AR)", "Tsai, Chen, Ho", "ICML", 2020, "2007.08714", Img, "medical image", MR, [Learnable], [Input], [Additive], [Statistical],
                "The authors' list is inconsistent for its alignment; the paper's many-to-one label mapping is statistical."),
            M("Voice2Series", "Yang, Tsai, Chen", "ICML", 2021, "2106.09296", Modality.TimeSeries, "time series via audio model", MR, [Learnable], [Input], [Additive], [Statistical],
                "Operator follows the paper (Sec. 3.1: x' = Pad(x) + M ⊙ θ, a learned signal added to the zero-padded series; the authors' ts_model.py, ARTLayer, " +
                "returns x + W); the authors' list has Parametric."),
            M("WARP", "Hambardzumyan et al.", "ACL", 2021, "2101.00121", Txt, "text", MR, [Learnable], [Embedding], [Concatenative], [Linear],
                "Location follows the paper (Sec. 3 and Fig. 3: the prompt tokens are trainable word embeddings inserted into the input sequence; the class " +
                "embeddings are applied as a linear layer); the authors' list has Input."),
            M("Cross-modal AR", "Neekhara et al.", "WACV", 2022, "2102.07325", Img, "image to sequence", MR, [Learnable], [Input], [Additive], [Linear]),
            M("Visual prompting (padding)", "Bahng et al.", "arXiv", 2022, "2203.17274", Img, "image", MR, [Learnable], [Input], [Additive], [Statistical]),
            M("ILM-VP", "Chen et al.", "CVPR", 2023, "2211.11635", Img, "image", MR, [Learnable], [Input], [Additive], [Statistical]),
            M("BlackVIP", "Oh et al.", "CVPR", 2023, "2303.14773", Img, "image", MR, [Learnable], [Input], [Additive], [RuleBased]),
            M("SMM (sample-specific masks)", "Cai et al.", "ICML", 2024, "2406.03150", Img, "image", MR, [Learnable], [Input], [Additive], [Statistical]),
            M("BLM / BLM+ (Bayesian label mapping)", "Cai et al.", "NeurIPS", 2024, "2410.24018", Img, "image", MR, [Learnable], [Input], [Additive], [Statistical]),
            M("AutoVP", "Tsao et al.", "ICLR", 2024, "2310.08381", Img, "image", MR, [Learnable], [Input], [Concatenative], [Statistical, Linear]),
            M("Time-LLM", "Jin et al.", "ICLR", 2024, "2310.01728", Modality.TimeSeries, "time series to LLM", MR, [Learnable], [Embedding], [Parametric], [Linear]),
            M("Antibody infilling reprogramming", "Melnyk et al.", "ICML", 2023, "2210.07144", Modality.Protein, "protein", MR, [Learnable], [Embedding], [Parametric], [Linear]),

            // Prompt tuning
            M("Prompt tuning", "Lester, Al-Rfou, Constant", "EMNLP", 2021, "2104.08691", Txt, "text", PT, [Learnable], [Embedding], [Concatenative], [Identity],
                "Location and operator follow the paper (soft tokens prepended to the input embeddings); the authors' list differs. " +
                "In this library: #!soft-prompt --method soft."),
            M("Prefix-tuning", "Li, Liang", "ACL", 2021, "2101.00190", Txt, "text", PT, [Learnable], [Hidden], [Concatenative], [Identity],
                "Location follows the paper: prefixes at every layer. In this library: #!soft-prompt --method prefix (reparameterised through an MLP of 512, as the paper)."),
            M("P-tuning", "Liu et al.", "AI Open", 2023, "2103.10385", Txt, "text", PT, [Learnable], [Embedding], [Concatenative], [RuleBased],
                "Concatenated prompts come from a prompt encoder. First posted on arXiv in 2021."),
            M("P-tuning v2", "Liu et al.", "ACL", 2022, "2110.07602", Txt, "text", PT, [Learnable], [Hidden], [Concatenative], [Linear],
                "Per-layer key/value prefixes learned directly. In this library: #!soft-prompt --method p-tuning-v2."),
            M("SPoT", "Vu et al.", "ACL", 2022, "2110.07904", Txt, "text", PT, [Learnable], [Embedding], [Concatenative], [Identity]),
            M("PTR", "Han et al.", "AI Open", 2022, "2105.11259", Txt, "text", PT, [Learnable], [Embedding], [Concatenative], [RuleBased],
                "First posted on arXiv in 2021."),
            M("PPT", "Gu et al.", "ACL", 2022, "2109.04332", Txt, "text", PT, [Learnable], [Embedding], [Concatenative], [RuleBased]),
            M("DART", "Zhang et al.", "ICLR", 2022, "2108.13161", Txt, "text", PT, [Learnable], [Embedding], [Concatenative], [Statistical],
                "Format follows the paper (differentiable, learned prompt and label tokens)."),
            M("VPT-shallow / VPT-deep", "Jia et al.", "ECCV", 2022, "2203.12119", Img, "image (ViT)", PT, [Learnable], [Embedding, Hidden], [Concatenative], [Linear],
                "Format follows the paper. Shallow prompts the embeddings; deep prompts every layer. In this library: #!soft-prompt --method soft (shallow) " +
                "and --method vpt-deep (deep prompts replaced at every layer)."),
            M("CoOp", "Zhou et al.", "IJCV", 2022, "2109.01134", Modality.VisionLanguage, "vision-language", PT, [Learnable], [Embedding], [Concatenative], [Linear],
                "Listed twice in the authors' list; the paper's alignment (class-name text features as a head) decides."),
            M("CoCoOp", "Zhou et al.", "CVPR", 2022, "2203.05557", Modality.VisionLanguage, "vision-language", PT, [Learnable], [Embedding], [Concatenative], [Identity, Linear]),
            M("MaPLe", "Khattak et al.", "CVPR", 2023, "2210.03117", Modality.VisionLanguage, "vision-language", PT, [Learnable], [Embedding, Hidden], [Concatenative], [Linear]),

            // Prompt instruction
            M("In-context learning", "Brown et al.", "NeurIPS", 2020, "2005.14165", Txt, "text", PI, [Fixed], [Input], [Concatenative], [Identity]),
            M("Role of demonstrations", "Min et al.", "EMNLP", 2022, "2202.12837", Txt, "text", PI, [Fixed], [Input], [Concatenative], [RuleBased]),
            M("Calibrate before use", "Zhao et al.", "ICML", 2021, "2102.09690", Txt, "text", PI, [Fixed], [Input], [Concatenative], [Statistical],
                "Not in the authors' list; contextual calibration re-weights label probabilities estimated from content-free inputs."),
            M("KATE (retrieved demonstrations)", "Liu et al.", "DeeLIO", 2022, "2101.06804", Txt, "text", PI, [Fixed], [Input], [Concatenative], [Identity],
                "Not in the authors' list; demonstrations retrieved by embedding similarity."),
            M("Chain-of-thought", "Wei et al.", "NeurIPS", 2022, "2201.11903", Txt, "text", PI, [Fixed], [Input], [Concatenative], [Identity]),
            M("Zero-shot CoT", "Kojima et al.", "NeurIPS", 2022, "2205.11916", Txt, "text", PI, [Fixed], [Input], [Concatenative], [RuleBased],
                "Not in the authors' list; the answer is parsed with a second, rule-based prompt."),
            M("Self-consistency", "Wang et al.", "ICLR", 2023, "2203.11171", Txt, "text", PI, [Fixed], [Input], [Concatenative], [Statistical],
                "Not in the authors' list; a majority vote over sampled rationales."),
            M("Least-to-most", "Zhou et al.", "ICLR", 2023, "2205.10625", Txt, "text", PI, [Fixed], [Input], [Concatenative], [Identity]),
            M("Structured prompting", "Hao et al.", "arXiv", 2022, "2212.06713", Txt, "text", PI, [Fixed], [Hidden], [Concatenative], [Identity]),
            M("Set-of-Mark", "Yang et al.", "arXiv", 2023, "2310.11441", Modality.Multimodal, "multimodal LLM", PI, [Fixed], [Input], [Additive], [RuleBased]),
        ];
    }
}
