namespace LayerCard.Common;

/// <summary>
/// Writes files so that a crash at any moment leaves either the previous complete file or the new complete one:
/// the content goes to a temporary name in the same folder, is flushed to disk, and is then renamed over the
/// target (rename is atomic within a file system).
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> writeContent)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                writeContent(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            writer.Write(text);
        });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy, 0, copy.Length));
    }

    /// <summary>
    /// Replaces a whole output folder atomically: <paramref name="fill"/> writes into a fresh temporary sibling
    /// folder, which then takes the target's place. An existing target is moved aside first and removed only
    /// after the new folder is in place, so a crash leaves one complete folder (old or new) plus litter.
    /// </summary>
    public static void WriteDirectory(string path, Action<string> fill)
    {
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var name = Path.GetFileName(full);
        var temporary = Path.Combine(parent, $".{name}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temporary);
        try
        {
            fill(temporary);
        }
        catch
        {
            TryDeleteDirectory(temporary);
            throw;
        }
        string? aside = null;
        if (Directory.Exists(full))
        {
            aside = Path.Combine(parent, $".{name}.{Environment.ProcessId}.{Guid.NewGuid():N}.old");
            Directory.Move(full, aside);
        }
        Directory.Move(temporary, full);
        if (aside != null) TryDeleteDirectory(aside);
    }

    private static void TryDelete(string file)
    {
        try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static void TryDeleteDirectory(string folder)
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
