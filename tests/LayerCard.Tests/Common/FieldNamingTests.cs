using LayerCard.Cli;
using LayerCard.Common;

namespace LayerCard.Tests.Common;

/// <summary>A refusal names request fields in the library's words; the CLI spells them as its options.</summary>
public class FieldNamingTests
{
    [Fact]
    public void ForFieldStartsWithTheFieldAndCarriesIt()
    {
        var e = BadInputException.ForField("rank", "must be positive, got 0");
        Assert.Equal("rank must be positive, got 0", e.Message);
        Assert.Equal("rank", e.Field);
        Assert.Equal("--rank must be positive, got 0", e.MessageNaming("--rank"));
        Assert.Equal("--rank must be positive, got 0", e.MessageNaming(OptionNames.For));
    }

    [Fact]
    public void AFieldCanBeFollowedByAColon()
    {
        var e = BadInputException.Naming("labels", n => $"{n("labels")}: 'good' appears twice");
        Assert.Equal("labels: 'good' appears twice", e.Message);
        Assert.Equal("--labels: 'good' appears twice", e.MessageNaming(OptionNames.For));
    }

    [Fact]
    public void NamingRenamesEveryFieldTheMessageNamesAndNothingElse()
    {
        var e = BadInputException.Naming("layers", n => $"{n("objective")} performance needs {n("layers")} K (layers of the model: 4)");
        Assert.Equal("objective performance needs layers K (layers of the model: 4)", e.Message);
        Assert.Equal("layers", e.Field);
        Assert.Equal("--objective performance needs --layers K (layers of the model: 4)", e.MessageNaming(OptionNames.For));
        Assert.Equal("objective performance needs LAYERS K (layers of the model: 4)", e.MessageNaming("LAYERS"));
    }

    [Fact]
    public void AFieldInTheMiddleOfAFileMessageIsRenamedToo()
    {
        var e = BadInputException.Naming("learning_rate", n => $"data.jsonl: lower {n("learning_rate")}");
        Assert.Equal("data.jsonl: lower learning_rate", e.Message);
        Assert.Equal("data.jsonl: lower --lr", e.MessageNaming(OptionNames.For));
    }

    [Fact]
    public void AMessageWithoutAFieldIsLeftAlone()
    {
        var e = BadInputException.InFile("data.jsonl", "rank must be positive");
        Assert.Null(e.Field);
        Assert.Equal("data.jsonl: rank must be positive", e.MessageNaming(OptionNames.For));
        Assert.Equal("data.jsonl: rank must be positive", e.MessageNaming("--rank"));
    }

    [Theory]
    [InlineData("learning_rate", "--lr")]
    [InlineData("batch_size", "--batch-size")]
    [InlineData("rank", "--rank")]
    [InlineData("steps", "--steps")]
    [InlineData("gradient_accumulation", "--grad-accum")]
    [InlineData("warmup_steps", "--warmup")]
    [InlineData("decay", "--schedule")]
    [InlineData("hold_out_fraction", "--holdout")]
    [InlineData("weight_decay", "--weight-decay")]
    [InlineData("max_grad_norm", "--max-grad-norm")]
    [InlineData("eval_every", "--eval-every")]
    [InlineData("checkpoint_every", "--checkpoint-every")]
    [InlineData("max_length", "--max-length")]
    [InlineData("long_prompts", "--long-prompts")]
    [InlineData("limit", "--limit")]
    [InlineData("eval_limit", "--eval-limit")]
    [InlineData("init_adapter", "--adapter")]
    [InlineData("output_directory", "--out")]
    [InlineData("max_examples", "--calibration-examples")]
    [InlineData("calibration_examples", "--calibration-examples")]
    [InlineData("ridge_eps", "--ridge-eps")]
    [InlineData("probe_layers", "--probe-layers")]
    [InlineData("target_gain", "--target-gain")]
    [InlineData("max_adapted_layers", "--max-adapted-layers")]
    [InlineData("--probe-layers", "--probe-layers")]
    public void OptionNamesSpellFieldsAsTheCliOptions(string field, string option) => Assert.Equal(option, OptionNames.For(field));

    [Fact]
    public void EveryOptionTheMapNamesExistsOnSomeCommand()
    {
        var options = CliOptions();
        foreach (var field in new[] { "learning_rate", "gradient_accumulation", "hold_out_fraction", "warmup_steps", "decay", "full_fine_tune_steps",
                     "init_adapter", "output_directory", "max_examples", "limit", "eval_limit", "test_limit", "long_prompts", "target_gain",
                     "budget_time", "budget_memory", "max_adapted_layers" })
            Assert.Contains(OptionNames.For(field), options);
    }

    private static HashSet<string> CliOptions()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var commands = new Stack<System.CommandLine.Command>(LayerCard.Cli.Commands.CommandCatalog.All(TextWriter.Null, TextWriter.Null));
        while (commands.Count > 0)
        {
            var command = commands.Pop();
            foreach (var option in command.Options) names.Add(option.Name);
            foreach (var sub in command.Subcommands) commands.Push(sub);
        }
        return names;
    }
}
