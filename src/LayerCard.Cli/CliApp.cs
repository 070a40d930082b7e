using System.CommandLine;
using LayerCard.Cli.Commands;
using LayerCard.Common;

namespace LayerCard.Cli;

/// <summary>
/// The `layercard` command: parses, calls the library, prints. Exit codes: 0 success, 1 runtime failure,
/// 2 bad input (a one-line message naming the file, line, field or option; never a stack trace).
/// </summary>
public static class CliApp
{
    /// <summary>Runs one command line and returns its exit code; refusals of library fields name the option the user typed.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("LayerCard: measure which layers of a language model to adapt with LoRA.");
        foreach (var command in CommandCatalog.All(stdout, stderr)) root.Subcommands.Add(command);
        ParseResult parsed;
        try
        {
            parsed = root.Parse(args);
        }
        catch (Exception e)
        {
            return Fail(stderr, ExitCodes.BadInput, e.Message);
        }
        if (parsed.Errors.Count > 0)
        {
            // For `layercard frob` the parser lists "Required command was not provided" first; the error that
            // names the unknown word tells the user what to fix.
            var error = parsed.Errors.FirstOrDefault(e => parsed.UnmatchedTokens.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal))) ?? parsed.Errors[0];
            return Fail(stderr, ExitCodes.BadInput, error.Message);
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (BadInputException e)
        {
            return Fail(stderr, ExitCodes.BadInput, e.MessageNaming(OptionNames.For));
        }
        catch (RuntimeFailureException e)
        {
            return Fail(stderr, ExitCodes.RuntimeFailure, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(stderr, ExitCodes.RuntimeFailure, e.Message);
        }
        catch (Exception e)
        {
            return Fail(stderr, ExitCodes.RuntimeFailure, $"internal error ({e.GetType().Name}): {e.Message}");
        }
    }

    private static int Fail(TextWriter stderr, int code, string message)
    {
        var oneLine = string.Join(" ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        stderr.WriteLine($"layercard: error: {oneLine}");
        return code;
    }
}
