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
        BenchCommands.Bench(stdout, stderr),
    ];
}
