using System.Text.Json.Nodes;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Recipes;
using LayerCard.Training;
using static LayerCard.Tests.Training.TrainingFixtures;
using static TorchSharp.torch;

namespace LayerCard.Tests.Recipes;

/// <summary>Placements trained side by side in alternating pieces: the same adapters as straight runs, timed together.</summary>
[Collection("training")]
public class SideBySideTrainingTests
{
    [Fact]
    public void PiecesAreNearlyEqualEndAtTheLastStepAndNeverOutnumberTheSteps()
    {
        Assert.Equal([2, 5, 7, 10], SideBySideTraining.Boundaries(10, 4));
        Assert.Equal([75, 150, 225, 300], SideBySideTraining.Boundaries(300, 4));
        Assert.Equal([1, 2, 3], SideBySideTraining.Boundaries(3, 4));
        Assert.Equal([1], SideBySideTraining.Boundaries(1, 4));
    }

    [Fact]
    public void ThePiecesAlternateTheOrderOfTheRuns()
    {
        Assert.Equal([0, 1], SideBySideTraining.Order(2, 0));
        Assert.Equal([1, 0], SideBySideTraining.Order(2, 1));
        Assert.Equal([0, 1], SideBySideTraining.Order(2, 2));
        Assert.Equal([2, 1, 0], SideBySideTraining.Order(3, 3));
    }

    [Fact]
    public void RunsTrainedSideBySideEndWithTheAdaptersOfUninterruptedRuns()
    {
        using var folder = new TempFolder();
        var request = new TrainRequest
        {
            Model = TinyModel(folder), Data = CountingTask(folder), Targets = ["q_proj", "v_proj"], Rank = 4, Dropout = 0.1,
            DataPlan = new DataPlan { MaxLength = 32, ValidationLimit = 8 }, Training = new TrainingOptions(),
        };
        TrainRequest For(string layers, string name) => request with
        {
            Layers = layers,
            Training = new TrainingOptions { Steps = 10, BatchSize = 4, LearningRate = 1e-2, WarmupSteps = 2, Seed = 3, OutputDirectory = folder[name] },
        };
        using var loaded = ModelLoader.Load(request.Model, null, CPU);
        var data = RecipeData.Load(request, request.DataPlan, loaded.RequireTokenizer(), evalDataIsTest: false);

        var straight = new[] { TrainRecipe.Train(loaded, For("1", "straight-top"), data, CPU), TrainRecipe.Train(loaded, For("all", "straight-all"), data, CPU) };
        var started = new List<(int Piece, int Run, int From, int To)>();
        var messages = new MessageRecorder();
        var sideBySide = SideBySideTraining.Train(loaded, [For("1", "top"), For("all", "all")], data, CPU, (p, r, f, t) => started.Add((p, r, f, t)), messages);

        Assert.Equal([(0, 0, 0, 2), (0, 1, 0, 2), (1, 1, 2, 5), (1, 0, 2, 5), (2, 0, 5, 7), (2, 1, 5, 7), (3, 1, 7, 10), (3, 0, 7, 10)], started);
        // Each piece is announced through the callback; the trainer does not add a "resumed from step" line per piece.
        Assert.NotEmpty(messages.Lines);
        Assert.DoesNotContain(messages.Lines, line => line.StartsWith("resumed from step", StringComparison.Ordinal));
        foreach (var (name, index) in new[] { ("top", 0), ("all", 1) })
        {
            var difference = MaxDifference(ReadAll(folder[$"straight-{name}/adapter_model.safetensors"]), ReadAll(folder[$"{name}/adapter_model.safetensors"]));
            Assert.True(difference <= 1e-6, $"{name}: the side-by-side adapter differs from the straight run's by {difference}");
            Assert.Equal(straight[index].FinalValidationLoss!.Value, sideBySide[index].FinalValidationLoss!.Value, 1e-5);
            Assert.Equal(10, sideBySide[index].Steps);
            Assert.Equal(straight[index].BaseValidationLoss, sideBySide[index].BaseValidationLoss);
            Assert.True(sideBySide[index].WallSeconds > 0 && sideBySide[index].MeanStepSeconds > 0);
            Assert.False(Directory.Exists(TrainingCheckpoint.FolderIn(folder[name])), "the checkpoint between pieces is left behind");
            var saved = JsonNode.Parse(File.ReadAllText(folder[$"{name}/{RunSummary.FileName}"]))!;
            Assert.Equal(sideBySide[index].MeanStepSeconds, saved["mean_step_seconds"]!.GetValue<double>(), 1e-12);
            Assert.Equal(10, File.ReadAllLines(folder[$"{name}/{Trainer.MetricsFile}"]).Length);
        }
    }

    [Fact]
    public void AResumedRunSaysWhereItResumedUnlessToldToBeQuiet()
    {
        using var folder = new TempFolder();
        var request = new TrainRequest
        {
            Model = TinyModel(folder), Data = CountingTask(folder), Layers = "1", Targets = ["q_proj"], Rank = 2,
            DataPlan = new DataPlan { MaxLength = 32, ValidationLimit = 8 },
            Training = new TrainingOptions { Steps = 4, BatchSize = 4, PauseAfter = 2, OutputDirectory = folder["run"] },
        };
        using var loaded = ModelLoader.Load(request.Model, null, CPU);
        var data = RecipeData.Load(request, request.DataPlan, loaded.RequireTokenizer(), evalDataIsTest: false);
        TrainRecipe.Train(loaded, request, data, CPU);
        var told = new MessageRecorder();
        TrainRecipe.Train(loaded, request with { Training = request.Training with { PauseAfter = 3, Resume = true } }, data, CPU, told);
        Assert.Contains(told.Lines, line => line.StartsWith("resumed from step 2", StringComparison.Ordinal));
        var quiet = new MessageRecorder();
        TrainRecipe.Train(loaded, request with { Training = request.Training with { PauseAfter = null, Resume = true, QuietResume = true } }, data, CPU, quiet);
        Assert.DoesNotContain(quiet.Lines, line => line.StartsWith("resumed from step", StringComparison.Ordinal));
        Assert.True(File.Exists(folder["run/adapter_model.safetensors"]), "the quietly resumed run did not finish");
    }

    private sealed class MessageRecorder : ITrainingObserver
    {
        public List<string> Lines { get; } = [];
        public void OnStep(StepReport report) { }
        public void OnEvaluation(int step, double validationLoss) { }
        public void OnMessage(string message) => Lines.Add(message);
    }

    [Fact]
    public void APauseWithoutAnOutputFolderIsRefusedNamingTheField()
    {
        var e = Assert.Throws<LayerCard.Common.BadInputException>(() => new TrainingOptions { Steps = 10, PauseAfter = 5 }.Validate());
        Assert.Equal("pause_after", e.Field);
    }
}
