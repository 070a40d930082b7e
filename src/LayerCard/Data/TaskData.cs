using LayerCard.Common;
using LayerCard.Tokenizers;

namespace LayerCard.Data;

/// <summary>
/// How a run's data is cut into parts. One set of defaults for every recipe (train, card, run, experiment).
/// Limits count examples, or windows for plain text, and apply to every format alike.
/// </summary>
public sealed record DataPlan
{
    /// <summary>The share of the data file held out for validation (what training and the card's probes monitor).</summary>
    public double ValidationFraction { get; init; } = DefaultHoldOut;
    /// <summary>The share held out for the test part (what every reported metric uses); 0 when the run reports no test figure or the test data is its own file.</summary>
    public double TestFraction { get; init; }
    /// <summary>Train on at most this many examples (windows for plain text), the first of the training part.</summary>
    public int? TrainLimit { get; init; }
    /// <summary>Validate on at most this many examples (windows).</summary>
    public int? ValidationLimit { get; init; }
    /// <summary>Test on at most this many examples (windows).</summary>
    public int? TestLimit { get; init; }
    /// <summary>Token limit per sequence.</summary>
    public int MaxLength { get; init; } = 256;
    /// <summary>
    /// What happens to an example whose prompt leaves no room for its completion within <see cref="MaxLength"/>:
    /// dropped and counted (<see cref="LongPromptPolicy.Skip"/>, the default) or its prompt cut from the left
    /// (<see cref="LongPromptPolicy.TruncateLeft"/>). Field <c>long_prompts</c>; every part's summary says how many.
    /// </summary>
    public LongPromptPolicy LongPrompts { get; init; } = LongPromptPolicy.Skip;

    /// <summary>The held-out share used when nothing else is said.</summary>
    public const double DefaultHoldOut = 0.1;

    /// <summary>Refuses limits and fractions no run can use, naming the field.</summary>
    public void Validate()
    {
        if (!(ValidationFraction >= 0 && ValidationFraction < 1)) throw BadInputException.ForField("hold_out_fraction", $"must be at least 0 and below 1, got {ValidationFraction}");
        if (!(TestFraction >= 0 && TestFraction < 1) || ValidationFraction + TestFraction >= 1)
            throw BadInputException.ForField("test_fraction", $"must be at least 0 and leave training data (validation {ValidationFraction} + test {TestFraction} < 1)");
        if (TrainLimit is <= 0) throw BadInputException.ForField("limit", $"must be a positive number, got {TrainLimit}");
        if (ValidationLimit is <= 0) throw BadInputException.ForField("eval_limit", $"must be a positive number, got {ValidationLimit}");
        if (TestLimit is <= 0) throw BadInputException.ForField("test_limit", $"must be a positive number, got {TestLimit}");
        if (MaxLength < 2) throw BadInputException.ForField("max_length", $"must be at least 2, got {MaxLength}");
        Data.LongPrompts.Validate(LongPrompts);
    }
}

/// <summary>One part of the data: the examples as read (for generation metrics) and as tokenized (for losses).</summary>
/// <param name="Name">"train", "validation" or "test": every report says which part a figure came from.</param>
public sealed record DataPart(string Name, TaskDataset Raw, TokenizedSet Tokens)
{
    /// <summary>One line for logs: the part's name and what tokenization kept.</summary>
    public string Summary => $"{Name}: {Tokens.Summary}";
}

/// <summary>
/// A run's data, split once and tokenized once: training, validation and (where the run reports one) test parts
/// that never share an example (E2E-style groups stay whole; plain text is cut into consecutive regions). The
/// split does not depend on the seed, so every seed of a study is scored on the same test part; the seed chooses
/// which training examples calibrate the card (<see cref="CalibrationSample"/>) and the training order.
/// </summary>
public sealed class TaskData
{
    private TaskData(DataPart train, DataPart? validation, DataPart? test, DataPlan plan)
    {
        Train = train;
        Validation = validation;
        Test = test;
        Plan = plan;
    }

    /// <summary>What the adapters learn from (and the only part the card calibrates on).</summary>
    public DataPart Train { get; }
    /// <summary>What training and the card's probes monitor; null when nothing is held out.</summary>
    public DataPart? Validation { get; }
    /// <summary>What every reported metric uses; null when the run reports none.</summary>
    public DataPart? Test { get; }
    /// <summary>The plan the parts were made by.</summary>
    public DataPlan Plan { get; }
    /// <summary>The data file's format (the same for every part).</summary>
    public DataFormat Format => Train.Raw.Format;
    /// <summary>sha256 of the training file's bytes.</summary>
    public string ContentHash => Train.Raw.ContentHash;

    // The split's own stream: independent of every user seed, so parts stay put across seeds.
    private const long SplitSeed = 0;
    // Calibration samples draw from a stream no epoch order or split uses.
    private const long CalibrationStream = -0xCA11B;

    /// <summary>
    /// Splits <paramref name="data"/> into parts by <paramref name="plan"/> and tokenizes each once. A part given
    /// as its own file (<paramref name="validationData"/>, <paramref name="testData"/>) is used whole (limited)
    /// and nothing is held out of <paramref name="data"/> for it.
    /// </summary>
    public static TaskData Prepare(TaskDataset data, TaskDataset? validationData, TaskDataset? testData, DataPlan plan, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(data);
        plan.Validate();
        var testFraction = testData is null ? plan.TestFraction : 0;
        var validationFraction = validationData is null ? plan.ValidationFraction : 0;
        TaskDataset rest = data, train = data;
        TaskDataset? heldTest = testData, heldValidation = validationData;
        if (testFraction > 0) (rest, heldTest) = data.Split(testFraction, SplitSeed);
        train = rest;
        // The validation share is of the whole file, so adding a test part does not shrink it.
        if (validationFraction > 0) (train, heldValidation) = rest.Split(validationFraction / (1 - testFraction), SplitSeed);

        return new TaskData(
            Part("train", train, plan.TrainLimit, tokenizer, plan),
            heldValidation is null ? null : Part("validation", heldValidation, plan.ValidationLimit, tokenizer, plan),
            heldTest is null ? null : Part("test", heldTest, plan.TestLimit, tokenizer, plan),
            plan);
    }

    /// <summary>
    /// <paramref name="count"/> training examples (windows) chosen by <paramref name="seed"/>: what the card
    /// calibrates on. Seeds choose different samples; the sample keeps file order.
    /// </summary>
    public TokenizedSet CalibrationSample(int count, long seed)
    {
        if (count <= 0) throw BadInputException.ForField("calibration_examples", $"must be positive, got {count}");
        var all = Train.Tokens.Examples;
        if (all.Count <= count) return Train.Tokens;
        var chosen = SeededShuffle.Permutation(all.Count, seed, CalibrationStream).Take(count).Order().Select(i => all[i]).ToList();
        return Train.Tokens.Subset(chosen, $"{count} of the training part's {all.Count} sequences, chosen by seed {seed}");
    }

    private static DataPart Part(string name, TaskDataset raw, int? limit, ITokenizer tokenizer, DataPlan plan)
    {
        // Examples are cut before tokenizing (cheap); plain text becomes windows first and is cut after.
        var limited = raw.First(limit);
        var tokens = Tokenization.Tokenize(limited, tokenizer, plan.MaxLength, plan.LongPrompts).First(limit);
        if (limited.Examples.Count < raw.Examples.Count)
            tokens = tokens.Subset(tokens.Examples, $"first {limit} of {raw.Examples.Count} examples used");
        return new DataPart(name, limited, tokens);
    }
}
