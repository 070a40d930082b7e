using LayerCard.Common;
using LayerCard.Tokenizers;

namespace LayerCard.Tests.Tokenizers;

public class BadTokenizerFileTests
{
    private static void AssertRefused(string path, string? problem = null)
    {
        var error = Assert.Throws<BadInputException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, error.Message);
        if (problem != null) Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void TruncatedTokenizerBinIsRefused()
    {
        using var temp = new TempFolder();
        var bytes = File.ReadAllBytes(TokenizerAssets.TokBin);
        var cut = temp["tok512.bin"];
        File.WriteAllBytes(cut, bytes[..^1]);
        AssertRefused(cut, "truncated");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 3)]);
        AssertRefused(cut);
        File.WriteAllBytes(cut, bytes[..2]);
        AssertRefused(cut, "truncated");
    }

    [Fact]
    public void NegativeOrHugeTokenLengthsAreRefused()
    {
        using var temp = new TempFolder();
        var bytes = File.ReadAllBytes(TokenizerAssets.TokBin);
        var bad = temp["tokenizer.bin"];
        var negative = (byte[])bytes.Clone();
        BitConverter.GetBytes(-5).CopyTo(negative, 8);
        File.WriteAllBytes(bad, negative);
        AssertRefused(bad, "negative length");
        var huge = (byte[])bytes.Clone();
        BitConverter.GetBytes(int.MaxValue).CopyTo(huge, 0);
        BitConverter.GetBytes(int.MaxValue).CopyTo(huge, 8);
        File.WriteAllBytes(bad, huge);
        AssertRefused(bad, "truncated");
        AssertRefused(temp.Path, "truncated");
    }

    [Fact]
    public void InvalidJsonIsRefused()
    {
        using var temp = new TempFolder();
        var json = temp["tokenizer.json"];
        File.WriteAllText(json, "{\"model\": {\"type\": \"BPE\", ");
        AssertRefused(json, "invalid JSON");
        AssertRefused(temp.Path, "invalid JSON");
        File.WriteAllText(json, new string('[', 10000) + new string(']', 10000));
        AssertRefused(json, "invalid JSON");
    }

    [Fact]
    public void MissingOrUnsupportedModelIsRefused()
    {
        using var temp = new TempFolder();
        var json = temp["tokenizer.json"];
        File.WriteAllText(json, "{\"version\": \"1.0\"}");
        AssertRefused(json, "'model'");
        File.WriteAllText(json, "{\"model\": {\"type\": \"Transformer\", \"vocab\": {\"a\": 0}}}");
        AssertRefused(json, "unsupported model type");
        File.WriteAllText(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}");
        AssertRefused(json, "-3");
    }

    [Fact]
    public void LibraryRejectionNamesTheFile()
    {
        using var temp = new TempFolder();
        var json = temp["tokenizer.json"];
        // Well-formed for our reader but the merge names tokens missing from the vocabulary.
        File.WriteAllText(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"x y\"]}}");
        AssertRefused(json);
    }

    [Fact]
    public void BadGpt2FilesAreRefused()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp["vocab.json"], "{\"a\": 0, \"b\": 1, \"ab\": 2}");
        File.WriteAllText(temp["merges.txt"], "#version: 0.2\na b\nb c\n");
        var error = Assert.Throws<BadInputException>(() => TokenizerLoader.Load(temp.Path));
        Assert.Contains(temp["merges.txt"] + ":3:", error.Message);
        File.WriteAllText(temp["vocab.json"], "[1, 2]");
        AssertRefused(temp["vocab.json"], "JSON object");
    }

    [Fact]
    public void MissingOrUnknownPathsAreRefused()
    {
        using var temp = new TempFolder();
        AssertRefused(temp.Path, "no tokenizer found");
        AssertRefused(temp["nothing-here"], "no such");
        File.WriteAllText(temp["model.txt"], "hello");
        AssertRefused(temp["model.txt"], "unrecognised");
    }
}
