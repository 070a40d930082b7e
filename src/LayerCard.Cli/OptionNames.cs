namespace LayerCard.Cli;

/// <summary>
/// The library names request fields in snake_case ("learning_rate"); the CLI's options mostly spell them
/// "--learning-rate". This maps the exceptions, so a library refusal reads in the words the user typed.
/// </summary>
public static class OptionNames
{
    private static readonly Dictionary<string, string> Exceptions = new(StringComparer.Ordinal)
    {
        ["learning_rate"] = "--lr",
        ["gradient_accumulation"] = "--grad-accum",
        ["hold_out_fraction"] = "--holdout",
        ["warmup_steps"] = "--warmup",
        ["decay"] = "--schedule",
        ["full_fine_tune_steps"] = "--finetune-steps",
        ["train_limit"] = "--limit",
        ["init_adapter"] = "--adapter",
        ["output_directory"] = "--out",
        // SignalOptions.MaxExamples: how many calibration examples the signal pass reads.
        ["max_examples"] = "--calibration-examples",
        ["plan.layers"] = "--layers",
        ["plan.target_gain"] = "--target-gain",
        ["plan.budget_time"] = "--budget-time",
        ["plan.budget_memory"] = "--budget-memory",
        ["plan.max_adapted_layers"] = "--max-adapted-layers",
    };

    /// <summary>
    /// The option a request field is set with: "batch_size" becomes "--batch-size", "learning_rate" "--lr".
    /// A name that is already an option ("--probe-layers", from callers that still pass one) is kept as it is.
    /// </summary>
    public static string For(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        if (field.StartsWith('-')) return field;
        return Exceptions.TryGetValue(field, out var name) ? name : "--" + field.Replace('_', '-').Replace('.', '-');
    }
}
