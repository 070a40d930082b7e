using LayerCard.Tests.Foundation;

namespace LayerCard.Tests.Corpus;

/// <summary>
/// Every bad input must end the way the CLI promises: exit code 2 and one line on stderr that says what is
/// wrong and where, never an internal error or a stack trace, and nothing half-printed on stdout.
/// </summary>
public sealed class BadInputCorpusTests
{
    public static TheoryData<string> CaseNames => new(BadInputCorpus.All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void IsRefusedWithOneCleanLine(string name)
    {
        var badCase = BadInputCorpus.Find(name);
        var root = Path.Combine(Path.GetTempPath(), "layercard-corpus-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            var result = CliRunner.Run(badCase.Build(root));
            var context = $"{name}: {result}";
            Assert.True(result.ExitCode == badCase.ExitCode, $"expected exit {badCase.ExitCode}; {context}");
            var lines = result.Stderr.TrimEnd('\r', '\n').Split('\n');
            Assert.True(lines.Length == 1, $"stderr is not one line; {context}");
            var line = lines[0];
            Assert.StartsWith("layercard: error: ", line, StringComparison.Ordinal);
            Assert.DoesNotContain("internal error", line, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", line, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", line, StringComparison.Ordinal);
            Assert.True(line.Contains(badCase.Fragment, StringComparison.Ordinal), $"stderr lacks \"{badCase.Fragment}\"; {context}");
            if (badCase.FileName != null)
                Assert.True(line.Contains(badCase.FileName, StringComparison.Ordinal), $"stderr does not name {badCase.FileName}; {context}");
            Assert.Equal("", result.Stdout);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public void CorpusIsLargeAndNamesAreUnique()
    {
        var names = BadInputCorpus.All.Select(c => c.Name).ToList();
        Assert.True(names.Count >= 50, $"only {names.Count} cases");
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(BadInputCorpus.All, c => Assert.False(string.IsNullOrWhiteSpace(c.Fragment), c.Name));
    }
}
