using LayerCard.Bench.Fuzzing;

namespace LayerCard.Tests.Reliability;

/// <summary>
/// The fuzzer's watch reports a hang or a runaway allocation to its caller instead of ending the process, and a
/// run stops after a case whose load could not be stopped.
/// </summary>
/// <remarks>In the training collection so that no heavy test frees or grabs hundreds of MiB while memory is watched.</remarks>
[Collection("training")]
public class CaseWatchTests
{
    [Fact]
    public void FinishedWorkReturnsItsResult()
    {
        var watched = CaseWatch.Run(() => 42, "watch test", TimeSpan.FromSeconds(30), long.MaxValue);
        Assert.Equal(WatchEnd.Finished, watched.End);
        Assert.Equal(42, watched.Result);
        Assert.True(watched.MemoryGrowthBytes >= 0);
    }

    [Fact]
    public void AnExceptionOfTheWorkIsRethrownOnTheCaller()
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            CaseWatch.Run<int>(() => throw new InvalidDataException("damaged"), "watch test", TimeSpan.FromSeconds(30), long.MaxValue));
        Assert.Equal("damaged", e.Message);
    }

    [Fact]
    public void WorkPastTheTimeoutIsReportedAsTimedOut()
    {
        using var gate = new ManualResetEventSlim();
        try
        {
            var watched = CaseWatch.Run(() => gate.Wait(TimeSpan.FromMinutes(1)), "watch test", TimeSpan.FromMilliseconds(100), long.MaxValue);
            Assert.Equal(WatchEnd.TimedOut, watched.End);
            Assert.True(watched.Elapsed >= TimeSpan.FromMilliseconds(100), watched.Elapsed.ToString());
        }
        finally
        {
            gate.Set(); // lets the worker end
        }
    }

    [Fact]
    public void WorkThatGrowsMemoryPastTheLimitIsReportedInsteadOfEndingTheProcess()
    {
        using var gate = new ManualResetEventSlim();
        byte[]? held = null;
        try
        {
            var watched = CaseWatch.Run(() =>
            {
                held = new byte[160 << 20];
                Array.Fill(held, (byte)1); // touch every page, so the array is resident
                return gate.Wait(TimeSpan.FromMinutes(1));
            }, "watch test", TimeSpan.FromMinutes(1), 48L << 20);
            Assert.Equal(WatchEnd.MemoryLimit, watched.End);
            Assert.True(watched.MemoryGrowthBytes > 48L << 20, $"{watched.MemoryGrowthBytes >> 20} MiB");
        }
        finally
        {
            gate.Set();
            held = null;
        }
    }

    [Fact]
    public void ACaseThatStopsTheRunIsKeptInTheSummary()
    {
        var fuzzCase = new FuzzCase(1, 7, FuzzKinds.HfLlama, "model", ["forged size"]);
        var summary = new FuzzSummary();
        summary.Add(new FuzzResult(fuzzCase with { Index = 6 }, FuzzOutcome.Refused, "refused", TimeSpan.FromMilliseconds(3), 0));
        Assert.Null(summary.StoppedBy);
        var runaway = new FuzzResult(fuzzCase, FuzzOutcome.Unbounded, "still loading", TimeSpan.FromSeconds(1), 5L << 30) { StopsRun = true };
        summary.Add(runaway);
        Assert.Same(runaway, summary.StoppedBy);
        Assert.Equal([runaway], summary.Failures);
        Assert.Equal(2, summary.Total);
    }
}
