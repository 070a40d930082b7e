using System.Runtime.InteropServices;

namespace LayerCard.Common;

/// <summary>
/// glibc's allocator keeps freed blocks in its heap for reuse, so after a large run the process stays resident at
/// that run's high-water mark (measured: ~1 GB extra after a GPT-2-small step). Trimming before a measurement
/// starts returns those blocks, so the next peak measures the next run alone. Trimming is done only between runs:
/// fixing the mmap threshold low instead (the earlier approach) made every large tensor an mmap/munmap pair and cost
/// about 45 % of a GPT-2-small step in page faults.
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

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
