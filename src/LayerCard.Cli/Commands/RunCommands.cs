using System.CommandLine;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Placement;
using LayerCard.Recipes;
using LayerCard.Reports;

namespace LayerCard.Cli.Commands;

/// <summary>layercard run: the end-to-end job (card, plan, LoRA on the plan and on all layers, evaluation, comparison).</summary>
public static class RunCommands
{
    /// <summary>layercard run.</summary>
    public static Command Run(TextWriter stdout)
    {
        var defaults = new RunRequest { Model = RunRequest.DefaultModel, Data = RunRequest.DefaultData, OutputDirectory = "" };
        var model = new Option<string>("--model") { Description = DataOptionSet.ModelDescription, DefaultValueFactory = _ => defaults.Model };
        var data = new Option<string>("--data") { DefaultValueFactory = _ => defaults.Data };
        var evalData = new Option<string?>("--eval-data") { Description = "test data (default: a held-out test part of --data)" };
        var format = new Option<string?>("--format");
        var labels = new Option<string?>("--labels");
        var targets = new Option<string?>("--targets") { Description = "default: every linear module of each layer" };
        var objective = new Option<string>("--objective") { Description = "performance, cost or budget", DefaultValueFactory = _ => defaults.Plan.Objective.ToString().ToLowerInvariant() };
        var layers = new Option<int?>("--layers") { Description = "K layers (performance)" };
        var target = new Option<double?>("--target-gain") { Description = "fraction of full-layer gain (cost)", DefaultValueFactory = _ => defaults.Plan.TargetGain };
        var budgetTime = new Option<double?>("--budget-time");
        var budgetMemory = new Option<double?>("--budget-memory");
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => defaults.Steps };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => defaults.LearningRate };
        var maxLength = new Option<int>("--max-length") { DefaultValueFactory = _ => defaults.DataPlan.MaxLength };
        var longPrompts = DataOptionSet.LongPromptsFor(defaults.DataPlan.LongPrompts);
        var limit = new Option<int?>("--limit") { Description = "training examples (windows) used", DefaultValueFactory = _ => defaults.DataPlan.TrainLimit };
        var evalLimit = new Option<int?>("--eval-limit") { Description = "validation and test examples (windows) used, each", DefaultValueFactory = _ => defaults.DataPlan.TestLimit };
        var noProbes = new Option<bool>("--no-probes") { Description = "no probe runs even with --probe-steps (the default card has none)" };
        var probeSteps = new Option<int?>("--probe-steps") { Description = "also train each layer alone for N steps and record measured gains and costs in the card (default: none; the card plans from its signals)" };
        var lineSearch = new Option<bool>("--line-search") { Description = "line-search each layer's first step with the real loss (forwards only): on a 12-layer model its pairs came near the best baseline where the default's did not, at about twice the card's time (docs/results); not with --shard" };
        var seed = new Option<long>("--seed");
        var output = new Option<string?>("--out") { Description = "output folder (default runs/<time>)" };
        var common = new CommonOptions();
        var command = new Command("run", "The main job: Layer Card, plan, LoRA on the plan and on all layers, evaluation and a comparison report.")
        {
            model, data, evalData, format, labels, targets, objective, layers, target, budgetTime, budgetMemory, steps, batch, lr, maxLength, longPrompts, limit, evalLimit, noProbes, probeSteps, lineSearch, seed, output,
        };
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var kind = PlanCommands.ParseObjective(parsed.GetValue(objective)!);
            var request = defaults with
            {
                Model = parsed.GetValue(model)!, Data = parsed.GetValue(data)!, EvalData = parsed.GetValue(evalData),
                Format = DataOptionSet.ParseFormat(parsed.GetValue(format)), Labels = ListOption.Split(parsed.GetValue(labels)),
                Targets = ListOption.Split(parsed.GetValue(targets)),
                Plan = new PlanRequest(kind, parsed.GetValue(layers), kind == PlanObjective.Cost ? parsed.GetValue(target) : null, parsed.GetValue(budgetTime), parsed.GetValue(budgetMemory)),
                Steps = parsed.GetValue(steps), BatchSize = parsed.GetValue(batch), LearningRate = parsed.GetValue(lr),
                DataPlan = defaults.DataPlan with
                {
                    MaxLength = parsed.GetValue(maxLength), TrainLimit = parsed.GetValue(limit), ValidationLimit = parsed.GetValue(evalLimit), TestLimit = parsed.GetValue(evalLimit),
                    LongPrompts = LongPrompts.Parse(parsed.GetValue(longPrompts)),
                },
                NoProbes = parsed.GetValue(noProbes), ProbeSteps = parsed.GetValue(probeSteps), LineSearch = parsed.GetValue(lineSearch), Seed = parsed.GetValue(seed),
                OutputDirectory = Path.GetFullPath(parsed.GetValue(output) ?? Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss"))),
            };
            var result = RunRecipe.Execute(request, device, line => stdout.WriteLine(line), ConsoleTrainingObserver.For(stdout));
            stdout.WriteLine();
            stdout.WriteLine(Markdown.Table(RunReport.TableHeaders(result.Base), RunReport.TableRows(result.Rows, result.Base)));
            stdout.WriteLine(result.PlanCheck);
            stdout.WriteLine(result.Economics.Summary);
            if (result.Base.Test.MajorityBaseline is double majority)
                stdout.WriteLine($"majority-class baseline: {majority:P2} (always '{result.Base.Test.MajorityLabel}')");
            stdout.WriteLine($"wrote {result.ReportPath}, card.json, plan/ and the two adapters in {request.OutputDirectory}");
            return ExitCodes.Success;
        });
        return command;
    }
}
