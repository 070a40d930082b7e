using LayerCard.Models;
using LayerCard.Bench.Fuzzing;
using LayerCard.Tokenizers;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerCard.Tests.Reliability;

public class FuzzTests(ITestOutputHelper output)
{
    /// <summary>LAYERCARD_FUZZ_ITERATIONS raises the count for a long run (e.g. 10000) without a separate harness.</summary>
    private static int Iterations =>
        int.TryParse(Environment.GetEnvironmentVariable("LAYERCARD_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : 300;

    [Fact]
    public void DamagedFilesLoadConsistentlyOrAreRefused()
    {
        // Peak memory is process-wide and other tests run alongside: 1 GiB still catches an allocation sized by a forged length.
        using var fuzzer = new Fuzzer(new FuzzOptions { Seed = 20240611, UnboundedBytes = 1L << 30 });
        var summary = fuzzer.Run(Iterations);
        output.WriteLine(summary.Table());
        output.WriteLine($"{summary.Elapsed.TotalSeconds:0.0} s, largest memory growth {summary.MaxMemoryGrowthBytes >> 20} MiB");
        foreach (var failure in summary.Failures.Take(50)) output.WriteLine(failure.ToString());

        Assert.True(summary.FailureCount == 0, $"{summary.FailureCount} failures, first: {summary.Failures.FirstOrDefault()}");
        // Both ends must occur, or the fuzzer is not really damaging files or not really loading them.
        Assert.True(summary.Count(FuzzOutcome.Loaded) > 0, "no case loaded");
        Assert.True(summary.Count(FuzzOutcome.Refused) > 0, "no case was refused");
        foreach (var kind in FuzzKinds.All)
            Assert.True(summary.Count(kind, FuzzOutcome.Refused) > 0, $"no {kind} case was refused");
    }

    /// <summary>
    /// The section mutations build decoder Strips, FixedLengths and Precompiled normalizers that the Rust library
    /// would panic on: before the checks in TokenizerJsonChecks such a run aborted the test host. Now every case
    /// ends loaded or refused, and each kind of section is both refused (crafted) and loaded (valid) somewhere.
    /// </summary>
    [Fact]
    public void CraftedTokenizerSectionsAreRefusedAndValidOnesLoad()
    {
        using var fuzzer = new Fuzzer(new FuzzOptions { Seed = 3, Kinds = [FuzzKinds.TokenizerJson] });
        var results = new List<FuzzResult>();
        var summary = fuzzer.Run(400, results.Add);
        foreach (var failure in summary.Failures.Take(20)) output.WriteLine(failure.ToString());
        Assert.True(summary.FailureCount == 0, $"{summary.FailureCount} failures, first: {summary.Failures.FirstOrDefault()}");
        foreach (var section in new[] { "Strip", "FixedLength", "Precompiled" })
        {
            var crafted = results.Where(r => r.Case.Description.Contains($" {section} ", StringComparison.Ordinal)).ToList();
            output.WriteLine($"{section}: {crafted.Count} cases, {crafted.Count(r => r.Outcome == FuzzOutcome.Refused)} refused");
            Assert.Contains(crafted, r => r.Outcome == FuzzOutcome.Refused && r.Detail.Contains($"({section}): ", StringComparison.Ordinal));
            Assert.Contains(crafted, r => r.Outcome == FuzzOutcome.Loaded);
        }
    }

    [Fact]
    public void SeedFilesLoadAndPassTheConsistencyChecks()
    {
        var root = Path.Combine(Path.GetTempPath(), $"layercard-fuzz-seeds-{Guid.NewGuid():N}");
        try
        {
            FuzzSeeds.WriteAll(root, seed: 7);
            foreach (var kind in FuzzKinds.All)
            {
                var folder = Path.Combine(root, kind);
                if (FuzzKinds.IsModel(kind))
                {
                    using var loaded = ModelLoader.Load(folder, null, CPU);
                    Assert.Null(FuzzChecks.Model(loaded, out _));
                    Assert.Equal(kind is FuzzKinds.HfSharded, loaded.Tokenizer == null);
                    (loaded.Tokenizer as IDisposable)?.Dispose();
                }
                else
                {
                    var tokenizer = TokenizerLoader.Load(folder);
                    Assert.Null(FuzzChecks.Tokenizer(tokenizer, FuzzSeeds.Vocab));
                    (tokenizer as IDisposable)?.Dispose();
                }
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void ACaseIsRebuiltIdenticallyFromSeedAndIndex()
    {
        using var first = new Fuzzer(new FuzzOptions { Seed = 5 });
        using var second = new Fuzzer(new FuzzOptions { Seed = 5 });
        for (int index = 0; index < 14; index++)
        {
            var a = first.Prepare(index, first.CaseFolder(index));
            var b = second.Prepare(index, second.CaseFolder(index));
            Assert.Equal(a.Description, b.Description);
            Assert.Equal(Path.GetRelativePath(first.WorkFolder, a.Target), Path.GetRelativePath(second.WorkFolder, b.Target));
            foreach (var file in Directory.GetFiles(first.CaseFolder(index)))
                Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(second.CaseFolder(index), Path.GetFileName(file))));
        }
    }
}
