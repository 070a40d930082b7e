using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Reliability;

/// <summary>`layercard bench fuzz` on a few cases: the summary it prints and its exit codes.</summary>
[Collection("training")]
public class FuzzCommandTests
{
    [Fact]
    public void AShortRunPrintsTheSummaryAndSucceeds()
    {
        var (code, output, err) = RunCli("bench", "fuzz", "--iterations", "14", "--seed", "1");
        Assert.True(code == 0, err + output);
        Assert.Contains("fuzz: 14 cases, seed 1, timeout 10 s", output);
        Assert.Contains("fuzz: 14/14 (100%)", output);
        Assert.Contains("largest memory growth", output);
        Assert.Contains("no crashes, hangs, unbounded allocations, unclear refusals or inconsistent loads", output);
    }

    [Fact]
    public void ReplayRunsOneCaseAndKeepsItsFiles()
    {
        var (code, output, err) = RunCli("bench", "fuzz", "--replay", "1:3");
        Assert.True(code == 0, err + output);
        Assert.StartsWith("1:3 ", output);
        var kept = output.Split('\n')[1];
        Assert.StartsWith("files kept in ", kept);
        var folder = kept["files kept in ".Length..kept.IndexOf(" (the undamaged", StringComparison.Ordinal)];
        Assert.True(Directory.Exists(folder), folder);
        var workFolder = Path.GetDirectoryName(Path.GetDirectoryName(folder))!;
        Assert.StartsWith("layercard-fuzz-", Path.GetFileName(workFolder));
        Directory.Delete(workFolder, recursive: true);
    }

    [Fact]
    public void KindsRestrictTheRunAndAnUnknownKindIsBadInput()
    {
        var (code, output, err) = RunCli("bench", "fuzz", "--iterations", "6", "--kinds", "tokenizers");
        Assert.True(code == 0, err + output);
        Assert.Contains("kinds tokenizer-json, vocab-merges, tokenizer-bin", output);
        (code, _, err) = RunCli("bench", "fuzz", "--iterations", "6", "--kinds", "tokenizer");
        Assert.Equal(2, code);
        Assert.Contains("--kinds tokenizer", err);
    }

    [Fact]
    public void ANonPositiveTimeoutIsBadInput()
    {
        var (code, _, err) = RunCli("bench", "fuzz", "--timeout-seconds", "0");
        Assert.Equal(2, code);
        Assert.Contains("--timeout-seconds", err);
    }
}
