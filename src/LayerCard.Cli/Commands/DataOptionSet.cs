using System.CommandLine;
using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Cli.Commands;

/// <summary>Model and data options shared by the commands that read a dataset; defaults come from the recipe's <see cref="DataPlan"/>.</summary>
public sealed class DataOptionSet(DataPlan defaults)
{
    /// <summary>What --model takes, with the known model names (stories260K, stories12L) listed from <see cref="Assets.Known"/>.</summary>
    public static string ModelDescription { get; } =
        $"a Hugging Face model folder, a llama2.c .bin, or a known model name ({string.Join(", ", Assets.Known.Where(a => a.Kind == "model").Select(a => a.Name))})";

    /// <summary>--model.</summary>
    public Option<string> Model { get; } = new("--model") { Description = ModelDescription, Required = true };
    /// <summary>--tokenizer.</summary>
    public Option<string?> Tokenizer { get; } = new("--tokenizer") { Description = "default: beside the model" };
    /// <summary>--data.</summary>
    public Option<string> Data { get; } = new("--data") { Description = "a dataset file or a known name (sst2, sst2:test, gsm8k, e2e, dart, webnlg, tinyshakespeare)", Required = true };
    /// <summary>--eval-data.</summary>
    public Option<string?> EvalData { get; } = new("--eval-data") { Description = "validation data (default: a held-out part of --data)" };
    /// <summary>--format.</summary>
    public Option<string?> FormatOption { get; } = new("--format") { Description = "text, prompt-completion, alpaca, gsm8k, classification, e2e, dart, webnlg, plain (default: detected)" };
    /// <summary>--labels.</summary>
    public Option<string?> LabelsOption { get; } = new("--labels") { Description = "label words for classification, comma separated (index 0 first)" };
    /// <summary>--max-length.</summary>
    public Option<int> MaxLength { get; } = new("--max-length") { DefaultValueFactory = _ => defaults.MaxLength };
    /// <summary>--long-prompts: skip or truncate-left (<see cref="DataPlan.LongPrompts"/>).</summary>
    public Option<string> LongPromptsOption { get; } = LongPromptsFor(defaults.LongPrompts);
    /// <summary>--limit.</summary>
    public Option<int?> Limit { get; } = new("--limit") { Description = "use at most N training examples (windows for plain text)", DefaultValueFactory = _ => defaults.TrainLimit };
    /// <summary>--eval-limit.</summary>
    public Option<int?> EvalLimit { get; } = new("--eval-limit") { Description = "use at most N validation examples (windows)", DefaultValueFactory = _ => defaults.ValidationLimit };
    /// <summary>--holdout.</summary>
    public Option<double> HoldOut { get; } = new("--holdout") { Description = "held-out validation fraction when there is no --eval-data", DefaultValueFactory = _ => defaults.ValidationFraction };
    /// <summary>--seed.</summary>
    public Option<long> Seed { get; } = new("--seed") { DefaultValueFactory = _ => 0 };

    /// <summary>Adds the options to a command; the validation options only where the command holds data out.</summary>
    public void AddTo(Command command, bool withEvalData)
    {
        foreach (var option in new Option[] { Model, Tokenizer, Data, FormatOption, LabelsOption, MaxLength, LongPromptsOption, Limit, Seed }) command.Options.Add(option);
        if (!withEvalData) return;
        command.Options.Add(EvalData);
        command.Options.Add(EvalLimit);
        command.Options.Add(HoldOut);
    }

    /// <summary>The data plan the parsed options describe.</summary>
    public DataPlan Plan(ParseResult parsed) => defaults with
    {
        MaxLength = parsed.GetValue(MaxLength), TrainLimit = parsed.GetValue(Limit), ValidationLimit = parsed.GetValue(EvalLimit),
        ValidationFraction = parsed.GetValue(HoldOut), LongPrompts = LongPrompts(parsed),
    };

    /// <summary>--long-prompts as a <see cref="LongPromptPolicy"/>; an unknown value is refused naming the option.</summary>
    public LongPromptPolicy LongPrompts(ParseResult parsed) => LayerCard.Data.LongPrompts.Parse(parsed.GetValue(LongPromptsOption));

    /// <summary>A --long-prompts option defaulting to <paramref name="defaultPolicy"/> (shared with `run`, which builds its own options).</summary>
    public static Option<string> LongPromptsFor(LongPromptPolicy defaultPolicy) => new("--long-prompts")
    {
        Description = "a prompt that leaves no room for its completion within --max-length (for generation metrics, for the new tokens " +
                      "within the model's context): skip (drop it and count it) or truncate-left (cut its first tokens, BOS kept)",
        DefaultValueFactory = _ => LayerCard.Data.LongPrompts.Name(defaultPolicy),
    };

    /// <summary>--format as a <see cref="DataFormat"/>.</summary>
    public DataFormat Format(ParseResult parsed) => ParseFormat(parsed.GetValue(FormatOption));

    /// <summary>A format name as users write it.</summary>
    public static DataFormat ParseFormat(string? text) => DataFormats.Parse(text, "--format");

    /// <summary>--labels as a list.</summary>
    public IReadOnlyList<string>? Labels(ParseResult parsed) => ListOption.Split(parsed.GetValue(LabelsOption));
}

/// <summary>Comma-separated option values.</summary>
public static class ListOption
{
    /// <summary>"a, b,c" as ["a", "b", "c"]; null stays null.</summary>
    public static IReadOnlyList<string>? Split(string? text) =>
        text?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
