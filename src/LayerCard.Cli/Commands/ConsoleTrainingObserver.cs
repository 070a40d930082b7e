using LayerCard.Training;

namespace LayerCard.Cli.Commands;

/// <summary>
/// Shows training progress: a live one-line bar (step, loss, learning rate, tokens/s, ETA) on a terminal, and
/// about twenty plain lines when the output is a file or a pipe, so logs stay readable.
/// </summary>
public sealed class ConsoleTrainingObserver(TextWriter output, bool interactive) : ITrainingObserver
{
    private int lastPrintedStep;

    /// <summary>An observer for <paramref name="output"/>: the live bar when it is the console and not redirected, plain lines otherwise.</summary>
    public static ConsoleTrainingObserver For(TextWriter output) =>
        new(output, ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected);

    /// <summary>Shows a step: redraws the bar on a terminal; otherwise prints the first and last step and about every twentieth.</summary>
    public void OnStep(StepReport r)
    {
        var line = $"step {r.Step}/{r.TotalSteps} {Bar(r.Step, r.TotalSteps)} loss {r.Loss:F4}  lr {r.LearningRate:0.00e+0}  {r.TokensPerSecond:N0} tok/s  " +
                   $"elapsed {Format(r.Elapsed)}  eta {Format(r.Remaining)}";
        if (interactive)
        {
            output.Write("\r" + line.PadRight(Math.Max(line.Length, Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 160) : 0)));
            if (r.Step == r.TotalSteps) output.WriteLine();
            output.Flush();
            return;
        }
        var every = Math.Max(1, r.TotalSteps / 20);
        if (r.Step == r.TotalSteps || r.Step - lastPrintedStep >= every || r.Step == 1)
        {
            output.WriteLine(line);
            lastPrintedStep = r.Step;
        }
    }

    /// <summary>Prints the validation loss at <paramref name="step"/>, on its own line.</summary>
    public void OnEvaluation(int step, double validationLoss)
    {
        if (interactive) output.WriteLine();
        output.WriteLine($"step {step}: validation loss {validationLoss:F4}");
    }

    /// <summary>Prints a message line.</summary>
    public void OnMessage(string message) => output.WriteLine(message);

    private static string Bar(int step, int total)
    {
        const int width = 20;
        var filled = (int)Math.Round(width * (double)step / Math.Max(1, total));
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");
}
