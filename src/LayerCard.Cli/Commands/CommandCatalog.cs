using System.CommandLine;

namespace LayerCard.Cli.Commands;

public static class CommandCatalog
{
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
