using System.CommandLine;
using System.Globalization;
using LayerCard.Bench.Planted;
using LayerCard.Common;

namespace LayerCard.Cli.Commands;

/// <summary>layercard bench planted: the planted-layer benchmark, the Layer Card's ground truth.</summary>
public static class PlantedCommand
{
    /// <summary>layercard bench planted.</summary>
    public static Command Planted(TextWriter stdout)
    {
        var defaults = new PlantedOptions();
        var seeds = new Option<int>("--seeds") { Description = "planted sets per model and size", DefaultValueFactory = _ => defaults.Seeds };
        var sizes = new Option<string>("--sizes") { Description = "planted-set sizes, comma-separated", DefaultValueFactory = _ => string.Join(",", defaults.Sizes) };
        var models = new Option<string>("--models") { Description = "base models: stories260K (or any --model reference) and random<L> (a reconditioned random Llama with L layers)", DefaultValueFactory = _ => string.Join(",", defaults.Models) };
        var targets = new Option<string>("--targets") { Description = "the card's target modules (probed and planted)", DefaultValueFactory = _ => string.Join(",", defaults.Targets) };
        var plantTargets = new Option<string?>("--plant-targets") { Description = "modules the planted change goes into (default: --targets; empty string: every linear module)" };
        var plantFlips = new Option<double>("--plant-flips") { Description = "share of greedy predictions each planted layer's change alone must flip", DefaultValueFactory = _ => defaults.PlantFlips };
        var labels = new Option<string>("--labels") { Description = "teacher labels: greedy (argmax) or sampled (drawn from the teacher)", DefaultValueFactory = _ => defaults.Labels };
        var probeSteps = new Option<int>("--probe-steps") { Description = "steps of each single-layer LoRA probe", DefaultValueFactory = _ => defaults.ProbeSteps };
        var probeLr = new Option<double>("--probe-lr") { Description = "learning rate of the probes", DefaultValueFactory = _ => defaults.ProbeLearningRate };
        var probeRank = new Option<int>("--probe-rank") { Description = "LoRA rank of the probes (alpha = 2 x rank)", DefaultValueFactory = _ => defaults.ProbeRank };
        var train = new Option<int>("--train-examples") { Description = "train sequences per case (at least probe steps x batch 8 keeps every probe step on fresh data)", DefaultValueFactory = _ => defaults.TrainExamples };
        var calibration = new Option<int>("--calibration-examples") { Description = "train sequences the signal pass uses (the first N)", DefaultValueFactory = _ => defaults.CalibrationExamples };
        var validation = new Option<int>("--validation-examples") { Description = "validation sequences per case", DefaultValueFactory = _ => defaults.ValidationExamples };
        var length = new Option<int>("--length") { Description = "tokens per sequence", DefaultValueFactory = _ => defaults.Length };
        var json = new Option<string?>("--json") { Description = "also write every case and the summary to this JSON file" };
        var common = new CommonOptions();
        var command = new Command("planted", "Plant a low-rank change in random layers of a teacher, label data with it, and check which card columns find the planted layers.")
        {
            seeds, sizes, models, targets, plantTargets, plantFlips, labels, probeSteps, probeLr, probeRank, train, calibration, validation, length, json,
        };
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var plant = parsed.GetValue(plantTargets);
            var rank = parsed.GetValue(probeRank);
            var options = new PlantedOptions
            {
                Seeds = parsed.GetValue(seeds),
                Sizes = Ints(parsed.GetValue(sizes)!, "--sizes"),
                Models = ListOption.Split(parsed.GetValue(models)) ?? [],
                Targets = ListOption.Split(parsed.GetValue(targets)) ?? [],
                PlantTargets = plant is null ? null : ListOption.Split(plant),
                PlantFlips = parsed.GetValue(plantFlips),
                Labels = parsed.GetValue(labels)!.Trim().ToLowerInvariant(),
                ProbeSteps = parsed.GetValue(probeSteps),
                ProbeLearningRate = parsed.GetValue(probeLr),
                ProbeRank = rank,
                ProbeAlpha = 2.0 * rank,
                TrainExamples = parsed.GetValue(train),
                CalibrationExamples = parsed.GetValue(calibration),
                ValidationExamples = parsed.GetValue(validation),
                Length = parsed.GetValue(length),
            };
            var report = PlantedBenchmark.Run(options, device, line => { stdout.WriteLine(line); stdout.Flush(); });
            stdout.WriteLine();
            stdout.Write(PlantedReportWriter.Table(report));
            var path = parsed.GetValue(json);
            if (path != null)
            {
                PlantedReportWriter.WriteJson(report, path);
                stdout.WriteLine($"wrote {path}");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static IReadOnlyList<int> Ints(string text, string option) =>
        (ListOption.Split(text) ?? []).Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v : throw new BadInputException($"{option}: '{s}' is not an integer")).ToList();
}
