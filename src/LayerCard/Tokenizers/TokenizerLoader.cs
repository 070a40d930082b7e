using LayerCard.Common;

namespace LayerCard.Tokenizers;

/// <summary>Opens a tokenizer from a file or a folder, recognising its format by the files' names.</summary>
public static class TokenizerLoader
{
    /// <summary>The HuggingFace tokenizer file name.</summary>
    public const string TokenizerJson = "tokenizer.json";
    /// <summary>The HuggingFace tokenizer settings file, which names BOS and EOS.</summary>
    public const string TokenizerConfig = "tokenizer_config.json";
    /// <summary>GPT-2's vocabulary file (token to id).</summary>
    public const string VocabJson = "vocab.json";
    /// <summary>GPT-2's BPE merges file, one merge a line.</summary>
    public const string MergesTxt = "merges.txt";

    /// <summary>
    /// A folder holding tokenizer.json (HuggingFace), vocab.json and merges.txt (GPT-2 BPE), or tokenizer.bin or
    /// one tok*.bin (llama2.c); or one of those files itself. tokenizer_config.json beside them sets BOS and EOS.
    /// </summary>
    public static ITokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) return LoadFolder(Path.GetFullPath(path));
        if (File.Exists(path)) return LoadFile(Path.GetFullPath(path));
        throw BadInputException.InFile(path, "no such tokenizer file or folder");
    }

    private static ITokenizer LoadFolder(string folder)
    {
        var json = Path.Combine(folder, TokenizerJson);
        if (File.Exists(json)) return HfTokenizer.Load(json, ConfigBeside(json));
        var vocab = Path.Combine(folder, VocabJson);
        var merges = Path.Combine(folder, MergesTxt);
        if (File.Exists(vocab) && File.Exists(merges)) return Gpt2Files.Load(vocab, merges, ConfigBeside(vocab));
        var bin = Path.Combine(folder, "tokenizer.bin");
        if (File.Exists(bin)) return Llama2cTokenizer.Load(bin);
        var candidates = Directory.GetFiles(folder, "tok*.bin").Order(StringComparer.Ordinal).ToList();
        if (candidates.Count == 1) return Llama2cTokenizer.Load(candidates[0]);
        if (candidates.Count > 1)
            throw BadInputException.InFile(folder, $"several llama2.c tokenizers ({string.Join(", ", candidates.Select(Path.GetFileName))}); name the file");
        throw BadInputException.InFile(folder,
            $"no tokenizer found: expected {TokenizerJson}, {VocabJson} with {MergesTxt}, or a llama2.c tokenizer.bin or tok*.bin");
    }

    private static ITokenizer LoadFile(string file)
    {
        var name = Path.GetFileName(file);
        var folder = Path.GetDirectoryName(file) ?? ".";
        if (name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2cTokenizer.Load(file);
        if (name.Equals(VocabJson, StringComparison.OrdinalIgnoreCase) || name.Equals(MergesTxt, StringComparison.OrdinalIgnoreCase))
        {
            var vocab = Path.Combine(folder, VocabJson);
            var merges = Path.Combine(folder, MergesTxt);
            if (!File.Exists(vocab) || !File.Exists(merges))
                throw BadInputException.InFile(file, $"a GPT-2 tokenizer needs both {VocabJson} and {MergesTxt} in {folder}");
            return Gpt2Files.Load(vocab, merges, ConfigBeside(vocab));
        }
        if (name.Equals(TokenizerConfig, StringComparison.OrdinalIgnoreCase))
            return LoadFolder(folder);
        if (name.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return HfTokenizer.Load(file, ConfigBeside(file));
        throw BadInputException.InFile(file,
            $"unrecognised tokenizer file: expected a {TokenizerJson}, {VocabJson}/{MergesTxt}, or a llama2.c .bin");
    }

    private static string? ConfigBeside(string file)
    {
        var config = Path.Combine(Path.GetDirectoryName(file) ?? ".", TokenizerConfig);
        return File.Exists(config) ? config : null;
    }
}
