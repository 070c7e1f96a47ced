using Reprogram.Frozen;
using Reprogram.Models.Clip;

namespace Reprogram.Manipulations;

/// <summary>
/// What interface of the frozen model a manipulation acts on, checked with a reason when the model lacks it: input
/// prompts need pixels (<see cref="IImageModel"/>), VPT needs patch tokens (<see cref="IPatchTokenModel"/>), soft,
/// deep and prefix prompts need a token model (<see cref="ITokenModel"/>; CLIP's text tower is one), CoOp needs a
/// vision-language model with a text tower and its tokenizer (<see cref="ClipModel"/>).
/// </summary>
public static class ModelRequirements
{
    /// <summary>The model's name and the interfaces it has, for messages ("ResNet (image model: pixels)").</summary>
    public static string Describe(object model)
    {
        var has = new List<string>();
        if (model is IPatchTokenModel) has.Add("image model with patch tokens");
        else if (model is IImageModel) has.Add("image model: pixels in, no tokens");
        if (model is ITokenModel) has.Add("token model");
        if (model is ClipModel) has.Add("a text tower");
        return $"{model.GetType().Name} ({(has.Count == 0 ? "no interface a manipulation can use" : string.Join(", ", has))})";
    }

    /// <summary>The model as an image model, or an <see cref="ArgumentException"/> naming why not.</summary>
    public static IImageModel Image(object model, string manipulation) => model as IImageModel ?? throw new ArgumentException(
        $"{manipulation} acts on pixels and needs an image model (IImageModel); {Describe(model)} takes none.");

    /// <summary>The model's patch-token interface, or an <see cref="ArgumentException"/> naming why not.</summary>
    public static IPatchTokenModel PatchTokens(object model, string manipulation) => model as IPatchTokenModel ?? throw new ArgumentException(
        $"{manipulation} inserts prompt tokens among patch tokens and needs a patch-token model (IPatchTokenModel: a ViT or CLIP's image tower); " +
        $"{Describe(model)} has no patch tokens.{(model is IImageModel ? " Input prompts (pad, watermark, patch) work on it." : "")}");

    /// <summary>The model's token interface (CLIP's text tower for a CLIP model), or an <see cref="ArgumentException"/> naming why not.</summary>
    public static ITokenModel Tokens(object model, string manipulation) => model switch
    {
        ITokenModel tokens => tokens,
        ClipModel clip => clip.Text,
        _ => throw new ArgumentException(
            $"{manipulation} acts on token embeddings and needs a token model (ITokenModel: a text encoder or decoder, or CLIP's text tower); " +
            $"{Describe(model)} has no token embeddings.{(model is IPatchTokenModel ? " On patch tokens use VPT." : model is IImageModel ? " Input prompts (pad, watermark, patch) work on it." : "")}"),
    };

    /// <summary>The model as CLIP, or an <see cref="ArgumentException"/> naming why not.</summary>
    public static ClipModel VisionLanguage(object model, string manipulation) => model as ClipModel ?? throw new ArgumentException(
        $"{manipulation} learns context tokens for class-name prompts in a text tower and needs a vision-language model (CLIP, with its tokenizer); " +
        $"{Describe(model)} has no text tower.");
}
