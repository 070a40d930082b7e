using System.Diagnostics;
using System.Text.Json.Nodes;
using LayerCard.Cli;
using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Training;

[Collection("training")]
public class TrainCommandTests
{
    private static string[] TrainArgs(string model, string data, string output, int steps, params string[] extra) =>
    [
        "train", "--model", model, "--data", data, "--out", output, "--steps", $"{steps}", "--batch-size", "4",
        "--layers", "1,2", "--targets", "q_proj,v_proj,down_proj", "--rank", "4", "--lr", "1e-2", "--threads", "1",
        "--max-length", "32", .. extra,
    ];

    [Fact]
    public void TrainingLowersTheValidationLossAndWritesTheRun()
    {
        using var folder = new TempFolder();
        var (code, output, err) = RunCli(TrainArgs(TinyModel(folder), CountingTask(folder), folder["run"], 30, "--eval-every", "10"));
        Assert.True(code == 0, err + output);
        foreach (var file in new[] { "adapter_config.json", "adapter_model.safetensors", "run-summary.json", "metrics.jsonl", "loss-curve.png" })
            Assert.True(File.Exists(folder["run/" + file]), file);
        var summary = JsonNode.Parse(File.ReadAllText(folder["run/run-summary.json"]))!.AsObject();
        var before = summary["base_validation_loss"]!.GetValue<double>();
        var after = summary["final_validation_loss"]!.GetValue<double>();
        Assert.True(after < before - 0.3, $"validation loss {before} -> {after}");
        Assert.Equal([1, 2], summary["layers"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.True(summary["peak_memory_bytes"]!.GetValue<long>() > 0);
        Assert.True(summary["mean_step_seconds"]!.GetValue<double>() > 0);
        Assert.Equal(30, File.ReadAllLines(folder["run/metrics.jsonl"]).Length);
        Assert.Contains("validation loss", output);
    }

    [Fact]
    public void ALimitCapsPlainTextWindowsAndSaysSo()
    {
        using var folder = new TempFolder();
        var (code, output, err) = RunCli("train", "--model", "stories260K", "--data", "tinyshakespeare", "--limit", "20", "--eval-limit", "4", "--steps", "1",
            "--batch-size", "2", "--max-length", "32", "--threads", "1", "--out", folder["run"]);
        Assert.True(code == 0, err + output);
        Assert.Contains("first 20 used", output);
        var summary = JsonNode.Parse(File.ReadAllText(folder["run/run-summary.json"]))!.AsObject();
        Assert.Contains("first 20 used", summary["train_data"]!.GetValue<string>());
        Assert.Contains("first 4 used", summary["validation_data"]!.GetValue<string>());
    }

    [Fact]
    public void TheSameSeedGivesTheSameAdapter()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var data = CountingTask(folder);
        Assert.Equal(0, RunCli(TrainArgs(model, data, folder["a"], 8, "--dropout", "0.1")).Code);
        Assert.Equal(0, RunCli(TrainArgs(model, data, folder["b"], 8, "--dropout", "0.1")).Code);
        Assert.Equal(0, MaxDifference(ReadAll(folder["a/adapter_model.safetensors"]), ReadAll(folder["b/adapter_model.safetensors"])));
    }

    [Fact]
    public void AResumedRunAfterSigkillEndsWithTheUninterruptedAdapter()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var data = CountingTask(folder);
        const int steps = 60;
        Assert.Equal(0, RunCli(TrainArgs(model, data, folder["straight"], steps, "--dropout", "0.1", "--grad-accum", "2", "--warmup", "3")).Code);

        var killedArgs = TrainArgs(model, data, folder["killed"], steps, "--dropout", "0.1", "--grad-accum", "2", "--warmup", "3", "--checkpoint-every", "2");
        var cli = typeof(CliApp).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(cli);
        foreach (var a in killedArgs) start.ArgumentList.Add(a);
        using (var process = Process.Start(start)!)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var state = folder["killed/checkpoint/state.json"];
            var clock = Stopwatch.StartNew();
            while (!CheckpointAtLeast(state, 10) && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(120)) Thread.Sleep(20);
            Assert.False(process.HasExited, "the run finished before it could be killed; make it longer");
            process.Kill(entireProcessTree: true); // SIGKILL on Linux: no chance to clean up
            process.WaitForExit();
        }
        Assert.False(File.Exists(folder["killed/adapter_model.safetensors"]));

        var (code, output, err) = RunCli([.. killedArgs, "--resume"]);
        Assert.True(code == 0, err);
        Assert.Contains("resumed from step", output);
        var difference = MaxDifference(ReadAll(folder["straight/adapter_model.safetensors"]), ReadAll(folder["killed/adapter_model.safetensors"]));
        Assert.True(difference <= 1e-6, $"resumed adapter differs by {difference}");
    }

    private static bool CheckpointAtLeast(string statePath, int step)
    {
        try
        {
            return File.Exists(statePath) && JsonNode.Parse(File.ReadAllText(statePath))!["Step"]!.GetValue<int>() >= step;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException)
        {
            return false;
        }
    }
}
