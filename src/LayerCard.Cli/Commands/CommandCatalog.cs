using System.CommandLine;

namespace LayerCard.Cli.Commands;

/// <summary>Every top-level command of the CLI, in the order help lists them.</summary>
public static class CommandCatalog
{
    /// <summary>Builds the commands, writing normal output to <paramref name="stdout"/> (and, for the benches, diagnostics to <paramref name="stderr"/>).</summary>
    public static IEnumerable<Command> All(TextWriter stdout, TextWriter stderr) =>
    [
        ModelCommands.Generate(stdout),
        ModelCommands.Info(stdout),
        ModelCommands.Tokenize(stdout),
        LoraCommands.Train(stdout),
        LoraCommands.Eval(stdout),
        LoraCommands.Export(stdout),
        CardCommands.Card(stdout),
        PlanCommands.Plan(stdout),
        RunCommands.Run(stdout),
        ExperimentCommands.Experiment(stdout),
        BenchCommands.Bench(stdout, stderr),
    ];
}
