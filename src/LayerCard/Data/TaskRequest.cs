namespace LayerCard.Data;

/// <summary>The model and the task data a command works on, as the user named them (paths or asset names).</summary>
public abstract record TaskRequest
{
    /// <summary>The model: a path or a known asset name.</summary>
    public required string Model { get; init; }
    /// <summary>The tokenizer: a path or a known asset name; null uses the one beside the model.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>The training data: a path, a known dataset name, or "name:split".</summary>
    public required string Data { get; init; }
    /// <summary>Validation data; without it a seeded held-out part of <see cref="Data"/> is used.</summary>
    public string? EvalData { get; init; }
    /// <summary>How to read the data files; Auto decides from the extension and the first record.</summary>
    public DataFormat Format { get; init; } = DataFormat.Auto;
    /// <summary>Label words in index order, for classification data.</summary>
    public IReadOnlyList<string>? Labels { get; init; }
}
