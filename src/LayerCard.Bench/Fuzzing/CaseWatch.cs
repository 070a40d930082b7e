using System.Diagnostics;
using System.Runtime.ExceptionServices;
using LayerCard.Common;

namespace LayerCard.Bench.Fuzzing;

/// <summary>How a watched piece of work ended.</summary>
public enum WatchEnd
{
    /// <summary>The work returned a result.</summary>
    Finished,

    /// <summary>No result within the timeout; the work is still running on its thread.</summary>
    TimedOut,

    /// <summary>Resident memory grew past the limit before the work finished; the work is still running on its thread.</summary>
    MemoryLimit,
}

/// <summary>What <see cref="CaseWatch.Run{T}"/> saw.</summary>
/// <param name="End">How the work ended.</param>
/// <param name="Result">The work's result; only set when <paramref name="End"/> is <see cref="WatchEnd.Finished"/>.</param>
/// <param name="Elapsed">Wall time from the start of the work to its result, or to the moment the watch gave up.</param>
/// <param name="MemoryGrowthBytes">
/// Growth of resident memory over the value before the work: the peak (VmHWM) where the kernel lets it be reset,
/// else the highest value polled.
/// </param>
public sealed record Watched<T>(WatchEnd End, T? Result, TimeSpan Elapsed, long MemoryGrowthBytes);

/// <summary>
/// Runs one piece of work (a fuzz case's load) on a background thread and waits for it with a timeout and a
/// resident-memory limit. A thread cannot be stopped from outside, so when either trips the work keeps running and
/// the caller gets a <see cref="Watched{T}"/> saying so: it decides whether to go on (a hang) or to stop and let the
/// process end (a runaway allocation). Nothing here ends the process.
/// </summary>
public static class CaseWatch
{
    /// <summary>Stack of the worker thread: deep recursion in a reader should be a finding, not a stack overflow of the host.</summary>
    private const int StackBytes = 16 << 20;

    /// <summary>How often memory and time are checked while the work runs.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Runs <paramref name="work"/> on a background thread named <paramref name="name"/>. An exception thrown by the
    /// work is rethrown here, on the caller's thread, with its original stack trace.
    /// </summary>
    public static Watched<T> Run<T>(Func<T> work, string name, TimeSpan timeout, long memoryLimitBytes)
    {
        ArgumentNullException.ThrowIfNull(work);
        T? result = default;
        ExceptionDispatchInfo? failure = null;
        // Not disposed when the watch gives up: the worker still sets it when (if ever) it finishes.
        var done = new ManualResetEventSlim();
        var worker = new Thread(() =>
        {
            try { result = work(); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
            finally { done.Set(); }
        }, StackBytes) { IsBackground = true, Name = name };

        bool peakReset = MemoryMeter.ResetPeak();
        long baseline = MemoryMeter.CurrentBytes(), highest = baseline;
        var clock = Stopwatch.StartNew();
        worker.Start();
        while (!done.Wait(PollInterval))
        {
            highest = Math.Max(highest, MemoryMeter.CurrentBytes());
            if (highest - baseline > memoryLimitBytes)
                return new Watched<T>(WatchEnd.MemoryLimit, default, clock.Elapsed, highest - baseline);
            // A background thread does not keep the process alive, so a hung one only costs its memory and CPU.
            if (clock.Elapsed > timeout)
                return new Watched<T>(WatchEnd.TimedOut, default, clock.Elapsed, highest - baseline);
        }
        var elapsed = clock.Elapsed;
        done.Dispose();
        failure?.Throw();
        long growth = Math.Max(0, (peakReset ? MemoryMeter.PeakBytes() : Math.Max(highest, MemoryMeter.CurrentBytes())) - baseline);
        return new Watched<T>(WatchEnd.Finished, result, elapsed, growth);
    }
}
