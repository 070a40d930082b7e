namespace LayerCard.Common;

/// <summary>
/// Writes files so that a crash at any moment leaves either the previous complete file or the new complete one:
/// the content goes to a temporary name in the same folder, is flushed to disk, and is then renamed over the
/// target (rename is atomic within a file system).
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> atomically: <paramref name="writeContent"/> fills a temporary file in the same folder, which is flushed to disk and renamed over the target; on failure the temporary file is removed and the target left as it was.</summary>
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

    /// <summary>Writes <paramref name="text"/> atomically as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            writer.Write(text);
        });

    /// <summary>Writes <paramref name="bytes"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy, 0, copy.Length));
    }

    /// <summary>
    /// Replaces a whole output folder: <paramref name="fill"/> writes into the sibling ".NAME.new", the current
    /// folder moves to ".NAME.old", the new one takes its place, and the old one is removed. A crash between the
    /// two renames leaves no folder under the final name, only complete siblings; <see cref="RecoverDirectory"/>
    /// (called here and by readers) puts the right one back.
    /// </summary>
    public static void WriteDirectory(string path, Action<string> fill)
    {
        var (full, fresh, aside) = DirectoryNames(path);
        RecoverDirectory(full);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        TryDeleteDirectory(fresh);
        Directory.CreateDirectory(fresh);
        try
        {
            fill(fresh);
        }
        catch
        {
            TryDeleteDirectory(fresh);
            throw;
        }
        TryDeleteDirectory(aside);
        if (Directory.Exists(full)) Directory.Move(full, aside);
        Directory.Move(fresh, full);
        TryDeleteDirectory(aside);
    }

    /// <summary>
    /// Completes an interrupted <see cref="WriteDirectory"/>: when the folder is missing but ".NAME.old" exists,
    /// the crash came after the new content was complete, so ".NAME.new" (or else the old folder) takes its place.
    /// </summary>
    public static void RecoverDirectory(string path)
    {
        var (full, fresh, aside) = DirectoryNames(path);
        if (Directory.Exists(full) || !Directory.Exists(aside)) return;
        Directory.Move(Directory.Exists(fresh) ? fresh : aside, full);
        TryDeleteDirectory(aside);
    }

    private static (string Full, string Fresh, string Aside) DirectoryNames(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        var parent = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        return (full, Path.Combine(parent, $".{name}.new"), Path.Combine(parent, $".{name}.old"));
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
