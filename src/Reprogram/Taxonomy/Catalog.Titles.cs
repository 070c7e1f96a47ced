namespace Reprogram.Taxonomy;

public static partial class Catalog
{
    // Full paper titles, checked against each arXiv id. A method (not a field) so that
    // static initialisation order across the partial files does not matter.
    private static string? TitleOf(string method) => method switch
    {
        "Adversarial reprogramming" => "Adversarial Reprogramming of Neural Networks",
        "AR of text classifiers" => "Adversarial Reprogramming of Text Classification Neural Networks",
        "BAR (black-box AR)" => "Transfer Learning without Knowing: Reprogramming Black-box Machine Learning Models with Scarce Data and Limited Resources",
        "Voice2Series" => "Voice2Series: Reprogramming Acoustic Models for Time Series Classification",
        "WARP" => "WARP: Word-level Adversarial ReProgramming",
        "Cross-modal AR" => "Cross-modal Adversarial Reprogramming",
        "Visual prompting (padding)" => "Exploring Visual Prompts for Adapting Large-Scale Models",
        "ILM-VP" => "Understanding and Improving Visual Prompting: A Label-Mapping Perspective",
        "BlackVIP" => "BlackVIP: Black-Box Visual Prompting for Robust Transfer Learning",
        "SMM (sample-specific masks)" => "Sample-specific Masks for Visual Reprogramming-based Prompting",
        "BLM / BLM+ (Bayesian label mapping)" => "Bayesian-guided Label Mapping for Visual Reprogramming",
        "AutoVP" => "AutoVP: An Automated Visual Prompting Framework and Benchmark",
        "Time-LLM" => "Time-LLM: Time Series Forecasting by Reprogramming Large Language Models",
        "Antibody infilling reprogramming" => "Reprogramming Pretrained Language Models for Antibody Sequence Infilling",
        "Prompt tuning" => "The Power of Scale for Parameter-Efficient Prompt Tuning",
        "Prefix-tuning" => "Prefix-Tuning: Optimizing Continuous Prompts for Generation",
        "P-tuning" => "GPT Understands, Too",
        "P-tuning v2" => "P-Tuning v2: Prompt Tuning Can Be Comparable to Fine-tuning Universally Across Scales and Tasks",
        "SPoT" => "SPoT: Better Frozen Model Adaptation through Soft Prompt Transfer",
        "PTR" => "PTR: Prompt Tuning with Rules for Text Classification",
        "PPT" => "PPT: Pre-trained Prompt Tuning for Few-shot Learning",
        "DART" => "Differentiable Prompt Makes Pre-trained Language Models Better Few-shot Learners",
        "VPT-shallow / VPT-deep" => "Visual Prompt Tuning",
        "CoOp" => "Learning to Prompt for Vision-Language Models",
        "CoCoOp" => "Conditional Prompt Learning for Vision-Language Models",
        "MaPLe" => "MaPLe: Multi-modal Prompt Learning",
        "In-context learning" => "Language Models are Few-Shot Learners",
        "Role of demonstrations" => "Rethinking the Role of Demonstrations: What Makes In-Context Learning Work?",
        "Calibrate before use" => "Calibrate Before Use: Improving Few-Shot Performance of Language Models",
        "KATE (retrieved demonstrations)" => "What Makes Good In-Context Examples for GPT-3?",
        "Chain-of-thought" => "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models",
        "Zero-shot CoT" => "Large Language Models are Zero-Shot Reasoners",
        "Self-consistency" => "Self-Consistency Improves Chain of Thought Reasoning in Language Models",
        "Least-to-most" => "Least-to-Most Prompting Enables Complex Reasoning in Large Language Models",
        "Structured prompting" => "Structured Prompting: Scaling In-Context Learning to 1,000 Examples",
        "Set-of-Mark" => "Set-of-Mark Prompting Unleashes Extraordinary Visual Grounding in GPT-4V",
        _ => null,
    };
}
