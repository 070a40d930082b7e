using System.Runtime.InteropServices;

namespace LayerCard.Common;

/// <summary>
/// glibc's allocator keeps freed blocks in its heap for reuse, so after a large run the process stays resident at
/// that run's high-water mark (measured: ~1 GB extra after a GPT-2-small step). Trimming before a measurement
/// starts returns those blocks, so the next peak measures the next run alone. Trimming is done only between runs:
/// fixing the mmap threshold low instead (the earlier approach) made every large tensor an mmap/munmap pair and cost
/// about 45 % of a GPT-2-small step in page faults. The card's signal passes are the exception
/// (<see cref="ReturnLargeBlocksAtOnce"/>): they run one layer at a time so that their memory does not grow with depth,
/// and there the low threshold holds the peak to one layer's working set at unchanged speed (docs/benchmarks).
/// </summary>
public static partial class NativeMemory
{
    /// <summary>Returns the allocator's free memory to the system (glibc's malloc_trim); a no-op elsewhere.</summary>
    public static void ReturnFreeMemoryToTheSystem()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (for example musl): nothing to trim.
        }
    }

    /// <summary>
    /// Collects the managed heap first and runs the finalizers (a tensor nobody disposed frees its native memory only
    /// there), then returns the allocator's free memory. For passes that bound their memory layer by layer: measured
    /// on 4 Qwen3-8B-shaped layers, the residual pass's later layers peaked 15–25 MiB lower with it (docs/benchmarks).
    /// </summary>
    public static void CollectAndReturnFreeMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ReturnFreeMemoryToTheSystem();
    }

    /// <summary>glibc's fixed mmap threshold for <see cref="ReturnLargeBlocksAtOnce"/>: its default starting value, 128 KiB.</summary>
    public const int LowMmapThreshold = 128 << 10;

    /// <summary>
    /// Until disposed, blocks of 128 KiB or more are mapped on their own and go back to the system the moment they
    /// are freed, so the resident size follows what is live instead of the heap's high-water mark. On dispose the
    /// thresholds go to the top of glibc's dynamic range (mmap 32 MiB, trim 64 MiB), where a training loop's own
    /// adjustment would have taken them, so the steps that follow do not pay a page fault per tensor. Scopes nest:
    /// only the outermost sets and restores. Not thread-safe (the signal passes run on one thread). A no-op outside
    /// glibc.
    /// </summary>
    public static IDisposable ReturnLargeBlocksAtOnce()
    {
        if (depth > 0)
        {
            depth++;
            return new Restore(true);
        }
        if (!OperatingSystem.IsLinux() || !TrySetOption(MallocMmapThreshold, LowMmapThreshold)) return Unchanged;
        // The allocator's free blocks from before are returned too, so the scope starts from what is live.
        ReturnFreeMemoryToTheSystem();
        depth = 1;
        return new Restore(true);
    }

    /// <summary>A scope that changes nothing (for callers that tighten only sometimes).</summary>
    public static IDisposable Unchanged { get; } = new Restore(false);

    private static int depth;

    private const int MallocTrimThreshold = -1;
    private const int MallocMmapThreshold = -3;

    private static bool TrySetOption(int option, int value)
    {
        try
        {
            return MallOpt(option, value) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private sealed class Restore(bool active) : IDisposable
    {
        private bool active = active;

        public void Dispose()
        {
            if (!active) return;
            active = false;
            if (--depth > 0) return;
            TrySetOption(MallocMmapThreshold, 32 << 20);
            TrySetOption(MallocTrimThreshold, 64 << 20);
            ReturnFreeMemoryToTheSystem();
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int option, int value);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
