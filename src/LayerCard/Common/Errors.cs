namespace LayerCard.Common;

/// <summary>
/// Input the user gave us is wrong (a file, a line, a field or an option). The CLI prints the message as one
/// line and exits with code 2; the message must name what is wrong and where.
/// </summary>
public sealed class BadInputException : Exception
{
    // Builds the message from a naming of the fields it mentions; null for messages that name no field.
    private readonly Func<Func<string, string>, string>? render;

    /// <summary>A refusal with its whole message.</summary>
    public BadInputException(string message) : base(message) { }

    /// <summary>A refusal caused by <paramref name="inner"/>.</summary>
    public BadInputException(string message, Exception inner) : base(message, inner) { }

    private BadInputException(string field, Func<Func<string, string>, string> render) : base(render(static f => f))
    {
        Field = field;
        this.render = render;
    }

    /// <summary>
    /// The request field the message is about, in the library's own words (snake_case, as in configs and JSON:
    /// "rank", "batch_size"); <see cref="ForField(string, string)"/> messages start with it, <see cref="Naming"/>
    /// messages name it somewhere. Front ends that call fields something else (the CLI's "--lr" for
    /// "learning_rate") respell them with <see cref="MessageNaming(Func{string, string})"/>.
    /// </summary>
    public string? Field { get; }

    /// <summary>Builds "FIELD problem", e.g. <c>ForField("rank", "must be positive, got 0")</c> gives "rank must be positive, got 0".</summary>
    public static BadInputException ForField(string field, string problem)
    {
        ArgumentException.ThrowIfNullOrEmpty(field);
        ArgumentNullException.ThrowIfNull(problem);
        return new(field, name => $"{name(field)} {problem}");
    }

    /// <summary>
    /// A refusal about <paramref name="field"/> whose message names it, and perhaps other fields, anywhere:
    /// <paramref name="message"/> writes the message given a function that spells a field name, e.g.
    /// <c>Naming("layers", n =&gt; $"{n("objective")} performance needs {n("layers")} K")</c>. <see cref="Exception.Message"/>
    /// spells every field as it is; <see cref="MessageNaming(Func{string, string})"/> lets a front end spell them its own way.
    /// </summary>
    public static BadInputException Naming(string field, Func<Func<string, string>, string> message)
    {
        ArgumentException.ThrowIfNullOrEmpty(field);
        ArgumentNullException.ThrowIfNull(message);
        return new(field, message);
    }

    /// <summary>The message with <see cref="Field"/> spelled <paramref name="name"/> (the whole message when there is no field).</summary>
    public string MessageNaming(string name) => Field is string f ? MessageNaming(field => field == f ? name : field) : Message;

    /// <summary>The message with every field it names spelled by <paramref name="name"/> (the whole message when it names none).</summary>
    public string MessageNaming(Func<string, string> name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return render is null ? Message : render(name);
    }

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
