using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Sets VER_FLG_WEAK on one version need (a Vernaux entry of .gnu.version_r) of 64-bit little-endian ELF files.
public class WeakenElfVersionNeed : Task
{
    [Required] public ITaskItem[] Files { get; set; }
    [Required] public string VersionName { get; set; }

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            try
            {
                var result = Patch(path);
                Log.LogMessage(MessageImportance.Normal, "WeakenElfVersionNeed: {0}: {1}", path, result);
            }
            catch (Exception e)
            {
                Log.LogError("WeakenElfVersionNeed: {0}: {1}", path, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }

    private string Patch(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (bytes[4] != 2 || bytes[5] != 1) throw new InvalidDataException("only 64-bit little-endian ELF is handled");
        long shoff = (long)BitConverter.ToUInt64(bytes, 0x28);
        int shentsize = BitConverter.ToUInt16(bytes, 0x3A);
        int shnum = BitConverter.ToUInt16(bytes, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            uint type = BitConverter.ToUInt32(bytes, (int)sh + 4);
            if (type != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(bytes, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(bytes, (int)sh + 0x28);
            long strSh = shoff + (long)link * shentsize;
            long strOffset = (long)BitConverter.ToUInt64(bytes, (int)strSh + 0x18);
            long need = offset;
            while (true)
            {
                int count = BitConverter.ToUInt16(bytes, (int)need + 2);
                uint auxOffset = BitConverter.ToUInt32(bytes, (int)need + 8);
                uint next = BitConverter.ToUInt32(bytes, (int)need + 12);
                long aux = need + auxOffset;
                for (int a = 0; a < count; a++)
                {
                    uint nameOffset = BitConverter.ToUInt32(bytes, (int)aux + 8);
                    if (ReadString(bytes, strOffset + nameOffset) == VersionName)
                    {
                        ushort flags = BitConverter.ToUInt16(bytes, (int)aux + 4);
                        if ((flags & VerFlgWeak) != 0) return "already weak";
                        flags |= VerFlgWeak;
                        var patched = BitConverter.GetBytes(flags);
                        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
                        {
                            stream.Seek(aux + 4, SeekOrigin.Begin);
                            stream.Write(patched, 0, 2);
                        }
                        return "marked " + VersionName + " weak";
                    }
                    aux += BitConverter.ToUInt32(bytes, (int)aux + 12);
                }
                if (next == 0) break;
                need += next;
            }
        }
        return "no need for " + VersionName + " found";
    }

    private static string ReadString(byte[] bytes, long start)
    {
        long end = start;
        while (end < bytes.Length && bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)start, (int)(end - start));
    }
}
