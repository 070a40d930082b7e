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
        ["init_adapter"] = "--adapter",
        ["output_directory"] = "--out",
        // run sets its validation and test limits with one option.
        ["test_limit"] = "--eval-limit",
        // SignalOptions.MaxExamples: how many calibration examples the signal pass reads.
        ["max_examples"] = "--calibration-examples",
    };

    /// <summary>
    /// The option a request field is set with: "batch_size" becomes "--batch-size", "learning_rate" "--lr".
    /// A name that is already an option ("--probe-layers", from callers that still pass one) is kept as it is.
    /// </summary>
    public static string For(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        if (field.StartsWith('-')) return field;
        return Exceptions.TryGetValue(field, out var name) ? name : "--" + field.Replace('_', '-');
    }
}
