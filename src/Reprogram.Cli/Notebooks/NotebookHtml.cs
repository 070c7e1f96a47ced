using System.Net;
using System.Text;
using Markdig;
using Microsoft.DotNet.Interactive.Documents;

namespace Reprogram.Cli.Notebooks;

/// <summary>
/// A self-contained HTML page of an executed notebook: markdown rendered, code shown, outputs inlined as the kernel
/// produced them (charts carry their own plotly.js, so the page needs no network).
/// </summary>
public static class NotebookHtml
{
    private static readonly MarkdownPipeline Markdown = new MarkdownPipelineBuilder().UseAdvancedExtensions().Build();

    public static string Render(InteractiveDocument document, string title)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>\n");
        sb.Append("""
            <style>
            body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 20px auto; padding: 0 16px; color: #1f2328; }
            .cell { margin: 14px 0; }
            .code pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; overflow-x: auto; font-size: 13px; }
            .prompt { color: #888; font-size: 12px; font-family: monospace; }
            .output { margin: 6px 0 6px 12px; overflow-x: auto; }
            .output pre { margin: 0; font-size: 13px; }
            .stderr pre, .error pre { color: #b00020; }
            .markdown code { background: #f0f0f0; padding: 0 3px; border-radius: 3px; }
            </style>
            </head><body>
            """);
        foreach (var element in document.Elements)
        {
            if (element.KernelName == "markdown")
            {
                sb.Append("<div class=\"cell markdown\">").Append(Markdig.Markdown.ToHtml(element.Contents, Markdown)).Append("</div>\n");
                continue;
            }
            var order = element.ExecutionOrder > 0 ? element.ExecutionOrder.ToString() : " ";
            sb.Append("<div class=\"cell code\"><div class=\"prompt\">In [").Append(order).Append("]:</div><pre><code>")
              .Append(E(element.Contents)).Append("</code></pre>\n");
            foreach (var output in element.Outputs) sb.Append(Output(output));
            sb.Append("</div>\n");
        }
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private static string Output(InteractiveDocumentOutputElement output) => output switch
    {
        DisplayElement d => Data(d.Data),
        ReturnValueElement r => Data(r.Data),
        TextElement { Name: "stderr" } t => $"<div class=\"output stderr\"><pre>{E(t.Text)}</pre></div>\n",
        TextElement t => $"<div class=\"output\"><pre>{E(t.Text)}</pre></div>\n",
        ErrorElement e => $"<div class=\"output error\"><pre>{E(e.ErrorName)}: {E(e.ErrorValue)}</pre></div>\n",
        _ => "",
    };

    private static string Data(IDictionary<string, object> data)
    {
        if (data.TryGetValue("text/html", out var html)) return $"<div class=\"output\">{html}</div>\n";
        if (data.TryGetValue("image/svg+xml", out var svg)) return $"<div class=\"output\">{svg}</div>\n";
        if (data.TryGetValue("image/png", out var png)) return $"<div class=\"output\"><img src=\"data:image/png;base64,{png}\"></div>\n";
        if (data.TryGetValue("text/markdown", out var md)) return $"<div class=\"output\">{Markdig.Markdown.ToHtml(md?.ToString() ?? "", Markdown)}</div>\n";
        if (data.TryGetValue("text/plain", out var text)) return $"<div class=\"output\"><pre>{E(text?.ToString())}</pre></div>\n";
        return "";
    }

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");
}
