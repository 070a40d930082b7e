using LayerCard.Card;
using LayerCard.Cli;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Lora;
using LayerCard.Placement;
using LayerCard.Tests.Data;
using LayerCard.Tests.Placement;
using LayerCard.Training;

namespace LayerCard.Tests.Common;

/// <summary>
/// The library refuses requests in its own words: the request field's snake_case name, never a CLI flag. The CLI
/// respells the field as the option the user typed.
/// </summary>
public class LibraryRefusalTests
{
    [Fact]
    public void TrainingOptionsNameTheFieldNotTheFlag()
    {
        var e = Assert.Throws<BadInputException>(() => new TrainingOptions { Steps = 0 }.Validate());
        Assert.Equal("steps", e.Field);
        Assert.Equal("steps must be positive, got 0", e.Message);
        Assert.DoesNotContain("--", e.Message);
        Assert.Equal("--steps must be positive, got 0", e.MessageNaming(OptionNames.For));
    }

    [Fact]
    public void TheCliSpellsLearningRateAsLr()
    {
        var e = Assert.Throws<BadInputException>(() => new TrainingOptions { LearningRate = 0 }.Validate());
        Assert.Equal("learning_rate must be positive, got 0", e.Message);
        Assert.Equal("--lr must be positive, got 0", e.MessageNaming(OptionNames.For));
    }

    [Fact]
    public void AProductOfTwoFieldsNamesBoth()
    {
        var e = Assert.Throws<BadInputException>(() => new TrainingOptions { LearningRate = 1e30, WeightDecay = 1e20 }.Validate());
        Assert.Equal("learning_rate 1E+30 times weight_decay 1E+20 does not fit a float32; training runs in float32", e.Message);
        Assert.Equal("--lr 1E+30 times --weight-decay 1E+20 does not fit a float32; training runs in float32", e.MessageNaming(OptionNames.For));
    }

    [Fact]
    public void PlannerNamesObjectiveAndTheMissingField()
    {
        var model = new GainModel(CardAndPlanTests.SyntheticCard([1, 1, 1, 1], (i, j) => i == j ? 1 : 0));
        var e = Assert.Throws<BadInputException>(() => Planner.Choose(model, new PlanRequest(PlanObjective.Performance)));
        Assert.Equal("layers", e.Field);
        Assert.Equal("objective performance needs layers K", e.Message);
        Assert.Equal("--objective performance needs --layers K", e.MessageNaming(OptionNames.For));
    }

    /// <summary>One bad request for every validation the library does before it loads anything (and a few after).</summary>
    public static TheoryData<string, string> Refusals => new()
    {
        { "training steps", "steps" },
        { "training batch size", "batch_size" },
        { "training gradient accumulation", "gradient_accumulation" },
        { "training learning rate", "learning_rate" },
        { "training learning rate too large", "learning_rate" },
        { "training warmup", "warmup_steps" },
        { "training weight decay", "weight_decay" },
        { "training weight decay times learning rate", "learning_rate" },
        { "training max grad norm", "max_grad_norm" },
        { "training eval every", "eval_every" },
        { "training checkpoint every", "checkpoint_every" },
        { "lora rank", "rank" },
        { "lora alpha", "alpha" },
        { "lora dropout", "dropout" },
        { "lora targets", "targets" },
        { "lora layers", "layers" },
        { "layer selection word", "layers" },
        { "layer selection range", "layers" },
        { "layer selection top", "layers" },
        { "layer selection out of range", "layers" },
        { "layer selection of probe layers", "probe_layers" },
        { "signal ridge eps", "ridge_eps" },
        { "signal rank", "rank" },
        { "signal batch size", "batch_size" },
        { "signal max examples", "max_examples" },
        { "plan layers beyond the model", "layers" },
        { "plan without layers", "layers" },
        { "plan without target gain", "target_gain" },
        { "plan target gain above one", "target_gain" },
        { "plan budget time", "budget_time" },
        { "plan budget memory", "budget_memory" },
        { "plan max adapted layers", "max_adapted_layers" },
        { "plan target gain out of reach", "target_gain" },
        { "data limit", "limit" },
        { "data no reference", "data" },
        { "data unknown split", "data" },
        { "data labels empty", "labels" },
        { "tokenization max length", "max_length" },
        { "long prompts word", "long_prompts" },
        { "data plan long prompts", "long_prompts" },
        { "batching batch size", "batch_size" },
        { "asset unknown", "model" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void NoValidationMessageNamesACliFlag(string name, string field)
    {
        var e = Assert.Throws<BadInputException>(Cases[name]);
        Assert.Equal(field, e.Field);
        Assert.DoesNotContain("--", e.Message);
        Assert.Contains(field, e.Message);
        var cli = e.MessageNaming(OptionNames.For);
        Assert.Contains(OptionNames.For(field), cli);
        Assert.NotEqual(e.Message, cli);
    }

    [Fact]
    public void EveryCaseIsListed() =>
        Assert.Equal(Cases.Keys.Order(), Refusals.Select(row => (string)row[0]).Order());

    private static readonly GainModel Model = new(CardAndPlanTests.SyntheticCard([1, 0.5, 0.2, 0.1], (i, j) => i == j ? 1 : 0));

    private static readonly LoraConfig Lora = new(8, 16, 0, false, ["q_proj"], [0]);

    private static readonly Dictionary<string, Action> Cases = new()
    {
        ["training steps"] = () => new TrainingOptions { Steps = 0 }.Validate(),
        ["training batch size"] = () => new TrainingOptions { BatchSize = 0 }.Validate(),
        ["training gradient accumulation"] = () => new TrainingOptions { GradientAccumulation = 0 }.Validate(),
        ["training learning rate"] = () => new TrainingOptions { LearningRate = double.NaN }.Validate(),
        ["training learning rate too large"] = () => new TrainingOptions { LearningRate = 1e300 }.Validate(),
        ["training warmup"] = () => new TrainingOptions { WarmupSteps = -1 }.Validate(),
        ["training weight decay"] = () => new TrainingOptions { WeightDecay = -0.1 }.Validate(),
        ["training weight decay times learning rate"] = () => new TrainingOptions { LearningRate = 1e30, WeightDecay = 1e20 }.Validate(),
        ["training max grad norm"] = () => new TrainingOptions { MaxGradNorm = -1 }.Validate(),
        ["training eval every"] = () => new TrainingOptions { EvalEvery = -5 }.Validate(),
        ["training checkpoint every"] = () => new TrainingOptions { CheckpointEvery = -1 }.Validate(),
        ["lora rank"] = () => (Lora with { Rank = 0 }).Validate(),
        ["lora alpha"] = () => (Lora with { Alpha = 0 }).Validate(),
        ["lora dropout"] = () => (Lora with { Dropout = 1.5 }).Validate(),
        ["lora targets"] = () => (Lora with { Targets = [] }).Validate(),
        ["lora layers"] = () => (Lora with { Layers = [] }).Validate(),
        ["layer selection word"] = () => LayerSelection.Parse("every", 4),
        ["layer selection range"] = () => LayerSelection.Parse("3-1", 4),
        ["layer selection top"] = () => LayerSelection.Parse("top:0", 4),
        ["layer selection out of range"] = () => LayerSelection.Parse("9", 4),
        ["layer selection of probe layers"] = () => LayerSelection.Parse("9", 4, "probe_layers"),
        ["signal ridge eps"] = () => new SignalOptions(RidgeEps: -1).Validate(),
        ["signal rank"] = () => new SignalOptions(Rank: 0).Validate(),
        ["signal batch size"] = () => new SignalOptions(BatchSize: 0).Validate(),
        ["signal max examples"] = () => new SignalOptions(MaxExamples: 0).Validate(),
        ["plan layers beyond the model"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Performance, Layers: 9)),
        ["plan without layers"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Performance)),
        ["plan without target gain"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Cost)),
        ["plan target gain above one"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Cost, TargetGain: 1.5)),
        ["plan budget time"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Budget, BudgetTime: 0)),
        ["plan budget memory"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Budget, BudgetMemory: -1)),
        ["plan max adapted layers"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Budget, MaxAdaptedLayers: 5)),
        ["plan target gain out of reach"] = () => Planner.Choose(Model, new PlanRequest(PlanObjective.Cost, TargetGain: 0.99, MaxAdaptedLayers: 1)),
        ["data limit"] = () => DatasetLoader.Load("sst2", new DataOptions(Limit: 0)),
        ["data no reference"] = () => DatasetLoader.Load(" ", new DataOptions()),
        ["data unknown split"] = () => DatasetLoader.ResolveReference("sst2:nope"),
        ["data labels empty"] = () => WithTsv(path => DatasetLoader.Load(path, new DataOptions(Labels: ["good", ""]))),
        ["tokenization max length"] = () => Tokenization.Tokenize(new TaskDataset("mem.jsonl", DataFormat.PromptCompletion, [new Example("a", "b")], null, null, "hash"), new FakeTokenizer(), 1),
        ["long prompts word"] = () => LongPrompts.Parse("bogus"),
        ["data plan long prompts"] = () => new DataPlan { LongPrompts = (LongPromptPolicy)7 }.Validate(),
        ["batching batch size"] = () => BatchSampler.Batches(new TokenizedSet("mem", [], 0, 0, "empty"), 0).ToList(),
        ["asset unknown"] = () => Assets.Resolve("no-such-model-anywhere", "model"),
    };

    private static void WithTsv(Action<string> use)
    {
        using var temp = new TempFolder();
        use(temp.Write("data.tsv", "sentence\tlabel\na fine film\t1\n"));
    }
}
