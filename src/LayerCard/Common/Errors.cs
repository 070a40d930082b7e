namespace LayerCard.Common;

/// <summary>
/// Input the user gave us is wrong (a file, a line, a field or an option). The CLI prints the message as one
/// line and exits with code 2; the message must name what is wrong and where.
/// </summary>
public sealed class BadInputException : Exception
{
    public BadInputException(string message) : base(message) { }
    public BadInputException(string message, Exception inner) : base(message, inner) { }

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
    public RuntimeFailureException(string message) : base(message) { }
    public RuntimeFailureException(string message, Exception inner) : base(message, inner) { }
}

public static class ExitCodes
{
    public const int Success = 0;
    public const int RuntimeFailure = 1;
    public const int BadInput = 2;
}
