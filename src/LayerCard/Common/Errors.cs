namespace LayerCard.Common;

/// <summary>
/// Input the user gave us is wrong (a file, a line, a field or an option). The CLI prints the message as one
/// line and exits with code 2; the message must name what is wrong and where.
/// </summary>
public sealed class BadInputException : Exception
{
    /// <summary>A refusal with its whole message.</summary>
    public BadInputException(string message) : base(message) { }

    /// <summary>A refusal caused by <paramref name="inner"/>.</summary>
    public BadInputException(string message, Exception inner) : base(message, inner) { }

    private BadInputException(string field, string message) : base(message) => Field = field;

    /// <summary>
    /// The request field the message is about, in the library's own words (snake_case, as in configs and JSON:
    /// "rank", "batch_size"); the message starts with it. Front ends that call the field something else (the CLI's
    /// "--lr" for "learning_rate") swap the name with <see cref="MessageNaming"/>.
    /// </summary>
    public string? Field { get; }

    /// <summary>Builds "FIELD problem", e.g. <c>ForField("rank", "must be positive, got 0")</c>.</summary>
    public static BadInputException ForField(string field, string problem) => new(field, $"{field} {problem}");

    /// <summary>The message with the leading field name replaced by <paramref name="name"/> (the whole message when there is no field).</summary>
    public string MessageNaming(string name) =>
        Field is string f && Message.StartsWith(f, StringComparison.Ordinal) ? name + Message[f.Length..] : Message;

    /// <summary>Builds "FILE: problem" so that every refusal names the file it is about.</summary>
    public static BadInputException InFile(string path, string problem) => new($"{path}: {problem}");

    /// <summary>Builds "FILE:LINE: problem".</summary>
    public static BadInputException AtLine(string path, int line, string problem) => new($"{path}:{line}: {problem}");
}

/// <summary>
/// Something failed while running on valid input (a NaN loss, a full disk). The CLI exits with code 1.
/// </summary>
public sealed class RuntimeFailureException : Exception
{
    /// <summary>A failure with its whole message.</summary>
    public RuntimeFailureException(string message) : base(message) { }

    /// <summary>A failure caused by <paramref name="inner"/>.</summary>
    public RuntimeFailureException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The process exit codes every command uses.</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Success = 0;
    /// <summary>Valid input, but the run failed (a NaN loss, a full disk).</summary>
    public const int RuntimeFailure = 1;
    /// <summary>The input was wrong; one line says what and where.</summary>
    public const int BadInput = 2;
}
