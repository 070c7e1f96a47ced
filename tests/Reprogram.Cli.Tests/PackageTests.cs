using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using Xunit.Abstractions;

namespace Reprogram.Cli.Tests;

/// <summary>What a registry and a user see of the packages: readme, licence, metadata, docs, symbols, versions; and the tool installed.</summary>
[Collection(PackedCollection.Name)]
public class PackageTests(PackedPackages packages, ITestOutputHelper log)
{
    /// <summary>nuget.org refuses packages over 250 MB.</summary>
    private const long RegistryLimit = 250L * 1024 * 1024;

    [Theory]
    [InlineData("Reprogram")]
    [InlineData("Reprogram.Interactive")]
    public void A_library_package_carries_readme_licence_metadata_docs_symbols_and_its_version(string id)
    {
        Assert.DoesNotContain("missing a readme", packages.PackOutput);
        var path = Path.Combine(packages.Feed, $"{id}.{packages.Version}.nupkg");
        using var zip = ZipFile.OpenRead(path);
        var metadata = Metadata(zip, id);
        CheckCommonMetadata(zip, metadata, id);
        Assert.NotNull(zip.GetEntry($"lib/net10.0/{id}.xml"));               // XML docs

        // A symbols package with the pdb beside it.
        using (var symbols = ZipFile.OpenRead(Path.ChangeExtension(path, ".snupkg")))
            Assert.NotNull(symbols.GetEntry($"lib/net10.0/{id}.pdb"));

        // The assembly says the package's version, exactly.
        Assert.Equal(packages.Version, InformationalVersion(zip, $"lib/net10.0/{id}.dll"));
    }

    [Fact]
    public async Task The_tool_package_fits_a_registry_carries_linux_libtorch_only_and_installs_as_reprogram()
    {
        var feed = Repo.NewTempFolder("reprogram-tool-feed");
        var tools = Repo.NewTempFolder("reprogram-tool-path");
        try
        {
            var clock = Stopwatch.StartNew();
            var pack = await ProcessResult.RunAsync("dotnet",
                ["pack", Path.Combine(Repo.Root, "src", "Reprogram.Cli"), "-c", "Release", $"-p:PackageVersion={packages.Version}", "-o", feed, "--nologo"],
                Repo.Root, timeout: TimeSpan.FromMinutes(10));
            Assert.True(pack.ExitCode == 0, "dotnet pack failed:\n" + pack.Output);
            Assert.DoesNotContain("missing a readme", pack.Output);
            var packSeconds = clock.Elapsed.TotalSeconds;
            var path = Path.Combine(feed, $"Reprogram.Cli.{packages.Version}.nupkg");
            var size = new FileInfo(path).Length;
            log.WriteLine($"Reprogram.Cli {packages.Version}: {size / 1e6:0.0} MB ({size / 1048576.0:0.0} MiB), packed in {packSeconds:0} s");
            Assert.True(size < RegistryLimit, $"The tool package is {size / 1048576.0:0.0} MiB, over the registry's 250 MB.");

            using (var zip = ZipFile.OpenRead(path))
            {
                var metadata = Metadata(zip, "Reprogram.Cli");
                CheckCommonMetadata(zip, metadata, "Reprogram.Cli");
                Assert.Contains(metadata.Element(metadata.Name.Namespace + "packageTypes")!.Elements(), t => t.Attribute("name")?.Value == "DotnetTool");
                var files = zip.Entries.Select(e => e.FullName).ToArray();
                Assert.Contains("tools/net10.0/any/runtimes/linux-x64/native/libtorch_cpu.so", files);
                Assert.DoesNotContain(files, f => f.EndsWith("torch_cpu.dll", StringComparison.Ordinal) || f.EndsWith("libtorch_cpu.dylib", StringComparison.Ordinal));
                Assert.DoesNotContain(files, f => f.EndsWith(".orig", StringComparison.Ordinal));
                Assert.Contains("tools/net10.0/any/bench/soft_prompt.py", files);
                Assert.Equal(packages.Version, InformationalVersion(zip, "tools/net10.0/any/Reprogram.Cli.dll"));
            }

            // As the README installs it (into a private tool path instead of the global one).
            clock.Restart();
            var install = await ProcessResult.RunAsync("dotnet",
                ["tool", "install", "--tool-path", tools, "--add-source", feed, "--ignore-failed-sources", "Reprogram.Cli", "--version", packages.Version],
                Repo.Root, timeout: TimeSpan.FromMinutes(5));
            Assert.True(install.ExitCode == 0, "dotnet tool install failed:\n" + install.Output);
            log.WriteLine($"installed in {clock.Elapsed.TotalSeconds:0} s");
            var reprogram = Path.Combine(tools, "reprogram");
            var help = await ProcessResult.RunAsync(reprogram, ["--help"], tools);
            Assert.Equal(0, help.ExitCode);
            foreach (var command in new[] { "run", "doctor", "bench" }) Assert.Contains(command, help.Output);
            var doctor = await ProcessResult.RunAsync(reprogram, ["doctor", "--packages", Repo.NewTempFolder("reprogram-empty-cache")], tools);
            Assert.True(doctor.ExitCode == 0, doctor.Output);
            Assert.Contains("This program (" + tools, doctor.Output);     // its own libtorch copy, checked
            Assert.Equal(2, (await ProcessResult.RunAsync(reprogram, ["doctor", "--no-such-option"], tools)).ExitCode);
        }
        finally
        {
            Directory.Delete(feed, recursive: true);
            Directory.Delete(tools, recursive: true);
        }
    }

    private static XElement Metadata(ZipArchive zip, string id)
    {
        using var stream = zip.GetEntry($"{id}.nuspec")!.Open();
        var root = XDocument.Load(stream).Root!;   // the nuspec namespace differs between package types
        return root.Element(root.Name.Namespace + "metadata")!;
    }

    private static void CheckCommonMetadata(ZipArchive zip, XElement metadata, string id)
    {
        string Text(string name) => metadata.Element(metadata.Name.Namespace + name)?.Value ?? "";
        Assert.Equal("README.md", Text("readme"));
        using (var readme = new StreamReader(zip.GetEntry("README.md")!.Open()))
            Assert.StartsWith("# " + id, readme.ReadToEnd());
        using (var licence = new StreamReader(zip.GetEntry("LICENSE")!.Open()))
            Assert.StartsWith("MIT License", licence.ReadToEnd());
        Assert.Equal("MIT", Text("license"));
        Assert.True(Text("description").Length > 80, $"{id}: the description is '{Text("description")}'");
        Assert.True(Text("tags").Split(' ').Length >= 5, $"{id}: tags '{Text("tags")}'");
        Assert.Contains("Reprogram.Interactive contributors", Text("copyright"));
        // The commit the package was built from (and the URL too, where the clone has a remote).
        Assert.Matches("^[0-9a-f]{40}$", metadata.Element(metadata.Name.Namespace + "repository")?.Attribute("commit")?.Value ?? "");
    }

    private static string? InformationalVersion(ZipArchive zip, string entry)
    {
        var file = Path.Combine(Repo.NewTempFolder("reprogram-dll"), Path.GetFileName(entry));
        zip.GetEntry(entry)!.ExtractToFile(file);
        try
        {
            return FileVersionInfo.GetVersionInfo(file).ProductVersion;
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }
}
