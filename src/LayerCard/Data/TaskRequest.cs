namespace LayerCard.Data;

/// <summary>The model and the task data a command works on, as the user named them (paths or asset names).</summary>
public abstract record TaskRequest
{
    public required string Model { get; init; }
    public string? Tokenizer { get; init; }
    public required string Data { get; init; }
    /// <summary>Validation data; without it a seeded held-out part of <see cref="Data"/> is used.</summary>
    public string? EvalData { get; init; }
    public DataFormat Format { get; init; } = DataFormat.Auto;
    public IReadOnlyList<string>? Labels { get; init; }
}
