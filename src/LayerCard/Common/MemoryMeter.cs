namespace LayerCard.Common;

/// <summary>
/// The process's peak resident memory (VmHWM), which includes libtorch's allocations that .NET's GC does not
/// see. On Linux the peak can be reset to the current size, so several measurements fit in one process.
/// </summary>
public static class MemoryMeter
{
    /// <summary>Peak resident memory of the process in bytes (VmHWM); the current working set where /proc is not readable.</summary>
    public static long PeakBytes() => ReadStatus("VmHWM:") ?? Environment.WorkingSet;

    /// <summary>Current resident memory of the process in bytes (VmRSS); the working set where /proc is not readable.</summary>
    public static long CurrentBytes() => ReadStatus("VmRSS:") ?? Environment.WorkingSet;

    /// <summary>Resets the peak to the current resident size; returns false where the kernel does not allow it.</summary>
    public static bool ResetPeak()
    {
        // Freed blocks the allocator still holds would otherwise count towards the next peak.
        NativeMemory.ReturnFreeMemoryToTheSystem();
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long? ReadStatus(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
                var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0]) * 1024;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return null;
    }
}
