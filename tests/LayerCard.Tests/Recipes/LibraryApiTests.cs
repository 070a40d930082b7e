using LayerCard.Data;
using LayerCard.Placement;
using LayerCard.Recipes;
using LayerCard.Tests.Training;
using static LayerCard.Tests.Training.TrainingFixtures;
using static TorchSharp.torch;

namespace LayerCard.Tests.Recipes;

/// <summary>The library used without the CLI: requests in, results out.</summary>
[Collection("training")]
public class LibraryApiTests
{
    [Fact]
    public void ALibraryCallerBuildsACardPlansAndTrainsAGpt2ModelWithDefaultTargets()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, "GPT2LMHeadModel", layers: 3);
        var logged = new List<string>();
        var result = RunRecipe.Execute(new RunRequest
        {
            Model = model, Data = CountingTask(folder, 80), Steps = 3, BatchSize = 4, CalibrationExamples = 8,
            DataPlan = new DataPlan { MaxLength = 32, ValidationLimit = 8, TestLimit = 8, TestFraction = DataPlan.DefaultHoldOut },
            Plan = new PlanRequest(PlanObjective.Performance, Layers: 1), OutputDirectory = folder["run"],
        }, CPU, logged.Add);

        // No targets given: every linear module of each GPT-2 layer.
        Assert.Equal(["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"], result.Card.Lora.Targets);
        Assert.Single(result.Plan.Layers);
        Assert.Equal(result.Plan.Layers, result.Rows[0].Layers);
        Assert.Equal([0, 1, 2], result.Rows[1].Layers);
        Assert.True(result.Rows[1].TrainableParameters > result.Rows[0].TrainableParameters);
        Assert.Single(logged, line => line.Contains("loaded once", StringComparison.Ordinal));
        Assert.True(File.Exists(folder["run/card-guided/adapter_model.safetensors"]));
    }

    [Fact]
    public void LibraryValidationNamesFieldsNotOptions()
    {
        var e = Assert.Throws<LayerCard.Common.BadInputException>(() => new RunRequest { Model = "m", Data = "d", OutputDirectory = "o", Rank = 0 }.Validate());
        Assert.Equal("rank", e.Field);
        Assert.StartsWith("rank must be positive", e.Message);
    }
}
