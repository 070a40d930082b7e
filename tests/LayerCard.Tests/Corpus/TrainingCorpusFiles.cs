using System.Text.Json;
using System.Text.Json.Nodes;
using LayerCard.Tests.Foundation;
using LayerCard.Tests.Models;

namespace LayerCard.Tests.Corpus;

/// <summary>
/// Builders for the dataset and training-option cases: a tiny model folder that `train`, `eval` and `card`
/// accept (weights, config and a byte-level tokenizer), a small valid task, and argument lists that differ from
/// a working command in one place only.
/// </summary>
public static class TrainingCorpusFiles
{
    /// <summary>A two-layer Llama (hidden 16, vocab 97) with a tokenizer; <paramref name="seed"/> makes another model.</summary>
    public static string TinyLm(string root, string name = "lm", long seed = 11, int layers = 2)
    {
        var config = TinyModels.Llama(layers: layers, hidden: 16, heads: 2, kvHeads: 1, intermediate: 24);
        return TinyHfDirectory.Write(Path.Combine(root, name), config, TinyModels.RandomWeights(config, seed));
    }

    /// <summary>A valid prompt/completion task of <paramref name="examples"/> short lines.</summary>
    public static string ValidTask(string root, string name = "task.jsonl", int examples = 16)
    {
        var lines = Enumerable.Range(0, examples).Select(i =>
            JsonSerializer.Serialize(new { prompt = $"after {(char)('a' + i % 20)} comes", completion = $" {(char)('b' + i % 20)}" }));
        return CorpusFiles.WriteFile(root, name, string.Join("\n", lines) + "\n");
    }

    /// <summary>`train` on a tiny model and <paramref name="data"/>: one step, one thread, short sequences.</summary>
    public static string[] Train(string root, string data, params string[] extra) =>
        ["train", "--model", TinyLm(root), "--data", data, "--out", Path.Combine(root, "run"), .. WithDefaults(extra, ("--steps", "1"), ("--batch-size", "2"), ("--threads", "1"), ("--max-length", "32"))];

    /// <summary><paramref name="extra"/> after those of the defaults it does not set itself (an option given twice is a parse error).</summary>
    public static string[] WithDefaults(string[] extra, params (string Option, string Value)[] defaults) =>
        [.. defaults.Where(d => !extra.Contains(d.Option)).SelectMany(d => new[] { d.Option, d.Value }), .. extra];

    /// <summary>`train` on valid data, differing from a working command by <paramref name="extra"/>.</summary>
    public static string[] TrainValid(string root, params string[] extra) => Train(root, ValidTask(root), extra);

    public static string[] Eval(string root, string data, params string[] extra) =>
        ["eval", "--model", TinyLm(root), "--data", data, .. WithDefaults(extra, ("--threads", "1"), ("--max-length", "32"))];

    /// <summary>Lines joined with '\n' into a file under root.</summary>
    public static string Lines(string root, string name, params string[] lines) =>
        CorpusFiles.WriteFile(root, name, string.Join("\n", lines) + "\n");

    public static string PromptCompletion(string prompt, string completion) => JsonSerializer.Serialize(new { prompt, completion });

    /// <summary>A PEFT adapter folder trained here for one step on the tiny model, to break in one place.</summary>
    public static string Adapter(string root, Action<JsonObject>? editConfig = null)
    {
        var folder = Path.Combine(root, "adapter");
        var result = CliRunner.Run(["train", "--model", TinyLm(root), "--data", ValidTask(root), "--out", folder, "--steps", "1",
            "--batch-size", "2", "--threads", "1", "--max-length", "32", "--holdout", "0"]);
        if (result.ExitCode != 0) throw new InvalidOperationException($"could not train the adapter to break: {result}");
        if (editConfig != null)
        {
            var path = Path.Combine(folder, "adapter_config.json");
            var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            editConfig(config);
            File.WriteAllText(path, config.ToJsonString());
        }
        return folder;
    }

    private static readonly Lazy<string> CardTemplate = new(BuildCard);

    /// <summary>
    /// A copy under <paramref name="root"/> of a signal-only card of <see cref="TinyLm"/> (seed 11), built once per
    /// test run, optionally edited as JSON.
    /// </summary>
    public static string Card(string root, Action<JsonObject>? edit = null)
    {
        var path = Path.Combine(root, "card.json");
        if (edit == null) File.Copy(CardTemplate.Value, path);
        else
        {
            var card = JsonNode.Parse(File.ReadAllText(CardTemplate.Value))!.AsObject();
            edit(card);
            File.WriteAllText(path, card.ToJsonString());
        }
        return path;
    }

    private static string BuildCard()
    {
        var root = Path.Combine(Path.GetTempPath(), "layercard-corpus-card-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var card = Path.Combine(root, "card.json");
        var result = CliRunner.Run(["card", "--model", TinyLm(root), "--data", ValidTask(root, examples: 24), "--out", card, "--no-probes",
            "--calibration-examples", "8", "--max-length", "32", "--threads", "1", "--no-cache"]);
        if (result.ExitCode != 0) throw new InvalidOperationException($"could not build the card the plan cases start from: {result}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, true); } catch (IOException) { } };
        return card;
    }
}
