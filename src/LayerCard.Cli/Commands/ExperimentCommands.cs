using System.CommandLine;
using LayerCard.Common;
using LayerCard.Recipes;

namespace LayerCard.Cli.Commands;

/// <summary>layercard experiment: the study of placement methods against each other and against every subset.</summary>
public static class ExperimentCommands
{
    /// <summary>The `experiment` command; refusals about the study's settings name the config file and its fields.</summary>
    public static Command Experiment(TextWriter stdout)
    {
        var config = new Option<string>("--config") { Description = "experiment JSON (see docs/experiments/)", Required = true };
        var output = new Option<string?>("--out") { Description = "results folder (default: the config's output_directory/name)" };
        var common = new CommonOptions();
        var command = new Command("experiment", "Train and evaluate every placement method (and every layer subset) on each task and seed.") { config, output };
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var path = Path.GetFullPath(parsed.GetValue(config)!);
            var loaded = ExperimentConfig.Load(path);
            var folder = Path.GetFullPath(parsed.GetValue(output) ?? Path.Combine(loaded.OutputDirectory, loaded.Name));
            var commandLine = "layercard " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1));
            ExperimentResults results;
            try
            {
                results = ExperimentRunner.Run(loaded, commandLine, device, line => { stdout.WriteLine(line); stdout.Flush(); },
                    partial => ExperimentReport.Write(partial, folder), subsetCache: Path.Combine(Assets.CacheRoot(), "subsets"));
            }
            catch (BadInputException e) when (e.Field is not null)
            {
                // The study's settings come from the config, not from options: keep the library's field names
                // ("rank", "learning_rate", as the config spells them) and name the config file, instead of letting
                // the CLI respell them as options the user never typed.
                throw BadInputException.InFile(path, e.Message);
            }
            var report = ExperimentReport.Write(results, folder);
            stdout.WriteLine(File.ReadAllText(report));
            stdout.WriteLine($"wrote {folder}");
            return ExitCodes.Success;
        });
        return command;
    }
}
