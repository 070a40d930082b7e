using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LayerCard.Card;
using LayerCard.Cli;
using LayerCard.Models.Checkpoints;
using LayerCard.Tests.Corpus;
using LayerCard.Tests.Foundation;
using LayerCard.Tests.Training;
using static TorchSharp.torch;

namespace LayerCard.Tests.Reliability;

/// <summary>
/// What a crash leaves behind: a card killed with SIGKILL resumes without redoing its finished probes and
/// ends with the same measurements; a killed training run leaves only complete files under their final
/// names; a run whose loss blows up stops with exit 1 and keeps its last good checkpoint.
/// </summary>
[Collection("training")]
public sealed class CrashSafetyTests
{
    [Fact]
    public void AKilledCardResumesItsProbesAndEndsComplete()
    {
        using var folder = new TempFolder();
        var model = TrainingCorpusFiles.TinyLm(folder.Path, layers: 4);
        var data = TrainingCorpusFiles.ValidTask(folder.Path, examples: 40);
        var output = folder["card.json"];
        var progressPath = output + ".progress.json";
        string[] args =
        [
            "card", "--model", model, "--data", data, "--out", output, "--no-cache", "--probe-steps", "25", "--batch-size", "4",
            "--calibration-examples", "8", "--validation-examples", "8", "--finetune-steps", "20", "--max-length", "32", "--threads", "1",
        ];

        using (var process = StartCli(args))
        {
            var clock = Stopwatch.StartNew();
            while (ProbedLayers(progressPath).Count == 0 && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(120)) Thread.Sleep(10);
            Assert.False(process.HasExited, "the card finished before it could be killed; give its probes more steps");
            process.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
            process.WaitForExit();
        }
        Assert.False(File.Exists(output), "a killed card must not leave card.json");
        var before = ProbedLayers(progressPath);
        Assert.NotEmpty(before);

        var result = CliRunner.Run(args);
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var layer in before.Keys)
            Assert.Contains($"layer {layer}: probe reused from an interrupted run", result.Stdout);
        Assert.False(File.Exists(progressPath), "the progress file outlived the finished card");

        var card = CardDocument.Load(output);
        Assert.Equal(4, card.Layers.Count);
        Assert.NotNull(card.Probes);
        Assert.NotNull(card.CostModel);
        Assert.All(card.Layers, row => Assert.True(row.MeasuredGain is double g && double.IsFinite(g), $"layer {row.Layer} has no measured gain"));
        foreach (var (layer, gain) in before)
            Assert.Equal(gain, card.Layers[layer].MeasuredGain);
    }

    [Fact]
    public void AKilledTrainingRunLeavesOnlyCompleteFilesUnderFinalNames()
    {
        using var folder = new TempFolder();
        var model = TrainingCorpusFiles.TinyLm(folder.Path);
        var data = TrainingCorpusFiles.ValidTask(folder.Path, examples: 40);
        var run = folder["run"];
        const int Steps = 80;
        string[] args =
        [
            "train", "--model", model, "--data", data, "--out", run, "--steps", $"{Steps}", "--batch-size", "4", "--checkpoint-every", "1",
            "--eval-every", "20", "--max-length", "32", "--threads", "1", "--lr", "1e-3",
        ];

        using (var process = StartCli(args))
        {
            var clock = Stopwatch.StartNew();
            while (CheckpointStep(Path.Combine(run, "checkpoint", "state.json")) < 3 && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(120)) Thread.Sleep(5);
            Assert.False(process.HasExited, "the run finished before it could be killed; make it longer");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        var outputs = FinalFiles(run);
        Assert.DoesNotContain("adapter_model.safetensors", outputs);
        Assert.DoesNotContain("run-summary.json", outputs);
        Assert.Subset(new HashSet<string> { "metrics.jsonl", "checkpoint/adapter.safetensors", "checkpoint/optimizer.safetensors", "checkpoint/state.json" }, outputs.ToHashSet());
        AssertEveryFileParses(run, outputs);
        // Whatever the kill interrupted lies under hidden temporary names, never under an output's name.
        foreach (var other in Directory.EnumerateFileSystemEntries(run, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(run, p).Replace('\\', '/')))
        {
            if (outputs.Contains(other) || other == "checkpoint") continue;
            var top = other.Split('/')[0];
            Assert.True(top.StartsWith('.') && (top.EndsWith(".tmp", StringComparison.Ordinal) || top.EndsWith(".old", StringComparison.Ordinal) || top.EndsWith(".new", StringComparison.Ordinal))
                        || other.StartsWith("checkpoint/.", StringComparison.Ordinal), $"unexpected entry {other} in the run folder");
        }

        // The resumed run ignores the litter and ends with complete outputs under the final names.
        var resumed = CliRunner.Run([.. args, "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("resumed from step", resumed.Stdout);
        var final = FinalFiles(run);
        Assert.Subset(final.ToHashSet(), new HashSet<string> { "adapter_config.json", "adapter_model.safetensors", "run-summary.json", "metrics.jsonl" });
        AssertEveryFileParses(run, final);
        Assert.Equal(Steps, File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Count(l => l.Length > 0));
    }

    [Fact]
    public void ANanLossStopsWithExitOneAndKeepsTheLastGoodCheckpoint()
    {
        using var folder = new TempFolder();
        var model = TrainingCorpusFiles.TinyLm(folder.Path);
        var data = TrainingCorpusFiles.ValidTask(folder.Path, examples: 24);
        var run = folder["run"];
        var result = CliRunner.Run("train", "--model", model, "--data", data, "--out", run, "--steps", "20", "--batch-size", "4",
            "--lr", "1e38", "--max-grad-norm", "0", "--checkpoint-every", "1", "--max-length", "32", "--threads", "1", "--holdout", "0");

        Assert.True(result.ExitCode == 1, result.ToString());
        var lines = result.Stderr.TrimEnd('\r', '\n').Split('\n');
        Assert.True(lines.Length == 1, result.ToString());
        Assert.True(lines[0].StartsWith("layercard: error: training loss became ", StringComparison.Ordinal), result.ToString());
        Assert.Matches("loss became (NaN|Infinity|-Infinity) at step [0-9]+", lines[0]);
        Assert.DoesNotContain("internal error", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("the last good checkpoint (step ", lines[0], StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(run, "adapter_model.safetensors")), "a failed run must not leave an adapter");

        var checkpoint = Path.Combine(run, "checkpoint");
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "state.json")))!.AsObject();
        var step = state["Step"]!.GetValue<int>();
        Assert.True(step >= 1, $"checkpoint step {step}");
        Assert.Contains($"(step {step})", lines[0], StringComparison.Ordinal);
        foreach (var file in new[] { "adapter.safetensors", "optimizer.safetensors" })
        {
            using var tensors = SafetensorsFile.Open(Path.Combine(checkpoint, file));
            Assert.NotEmpty(tensors.Tensors);
            foreach (var name in tensors.Tensors.Keys)
            {
                using var tensor = tensors.Read(name);
                Assert.True(tensor.isfinite().all().item<bool>(), $"{file}: {name} is not finite in the last good checkpoint");
            }
        }
    }

    // ---- helpers ----

    private static Process StartCli(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(CliApp).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Layer → measured gain of the probes saved in a card's progress file (empty while there is none).</summary>
    private static Dictionary<int, double?> ProbedLayers(string progressPath)
    {
        try
        {
            if (!File.Exists(progressPath)) return [];
            var probes = JsonNode.Parse(File.ReadAllText(progressPath))!["probes"]!.AsArray();
            return probes.ToDictionary(p => p!["layer"]!.GetValue<int>(), p => p!["gain"]?.GetValue<double?>());
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return [];
        }
    }

    private static int CheckpointStep(string statePath)
    {
        try
        {
            return File.Exists(statePath) ? JsonNode.Parse(File.ReadAllText(statePath))!["Step"]!.GetValue<int>() : 0;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return 0;
        }
    }

    /// <summary>Files a user or a resumed run would read: relative paths with no hidden (temporary) part.</summary>
    private static List<string> FinalFiles(string run) =>
        Directory.EnumerateFiles(run, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(run, p).Replace('\\', '/'))
            .Where(p => !p.Split('/').Any(part => part.StartsWith('.')))
            .Order(StringComparer.Ordinal).ToList();

    private static void AssertEveryFileParses(string run, IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            var path = Path.Combine(run, file);
            switch (Path.GetExtension(file))
            {
                case ".json":
                    Assert.NotNull(JsonNode.Parse(File.ReadAllText(path)));
                    break;
                case ".jsonl":
                    var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
                    Assert.NotEmpty(lines);
                    Assert.All(lines, l => Assert.NotNull(JsonNode.Parse(l)));
                    break;
                case ".safetensors":
                    using (var tensors = SafetensorsFile.Open(path))
                    {
                        Assert.NotEmpty(tensors.Tensors);
                        foreach (var name in tensors.Tensors.Keys) tensors.Read(name).Dispose();
                    }
                    break;
                case ".png":
                    using (var image = SkiaSharp.SKBitmap.Decode(path)) Assert.True(image is { Width: > 0, Height: > 0 }, $"{file} is not a complete PNG");
                    break;
                default:
                    Assert.Fail($"unexpected output {file}");
                    break;
            }
        }
    }
}
