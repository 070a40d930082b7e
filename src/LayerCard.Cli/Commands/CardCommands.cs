using System.CommandLine;
using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Recipes;
using LayerCard.Reports;

namespace LayerCard.Cli.Commands;

/// <summary>layercard card: build the Layer Card of a model on a task.</summary>
public static class CardCommands
{
    /// <summary>layercard card.</summary>
    public static Command Card(TextWriter stdout)
    {
        var defaults = new CardRequest { Model = "", Data = "" };
        var cardDefaults = defaults.Card;
        var o = new DataOptionSet(defaults.DataPlan);
        var targets = new Option<string?>("--targets") { Description = "modules the card's LoRA adapts (default q_proj,v_proj; GPT-2 attn.c_attn)" };
        var rank = new Option<int>("--rank") { DefaultValueFactory = _ => cardDefaults.Rank };
        var alpha = new Option<double>("--alpha") { DefaultValueFactory = _ => cardDefaults.Alpha };
        var calibration = new Option<int?>("--calibration-examples") { Description = $"training examples the signal pass reads, chosen by --seed (default: {CardSettings.DefaultCalibrationExamples}, or the model's layer count if larger)" };
        var eps = new Option<double>("--ridge-eps") { Description = "ridge as a fraction of the mean eigenvalue of each input covariance", DefaultValueFactory = _ => cardDefaults.RidgeEps };
        var probeSteps = new Option<int?>("--probe-steps") { Description = "also train each layer alone (and all layers) for N LoRA steps and record measured gains and costs beside the signals (default: no probes; the card predicts from its signals)" };
        var probeLayers = new Option<string?>("--probe-layers") { Description = "layers that get probe runs (default all): 3,5,7, 2-4, top:K" };
        var noProbes = new Option<bool>("--no-probes") { Description = "signal columns only, in seconds" };
        var lineSearch = new Option<bool>("--line-search") { Description = "line-search each layer's first step with the real loss (forwards only): on a 12-layer model its pairs came near the best baseline where the default's did not, at about twice the card's time (docs/results); not with --shard" };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => cardDefaults.BatchSize };
        var lr = new Option<double>("--lr") { Description = "learning rate of the probe runs", DefaultValueFactory = _ => cardDefaults.LearningRate };
        var fullSteps = new Option<int>("--finetune-steps") { Description = "steps of the full-layer fine-tune the card is weighed against", DefaultValueFactory = _ => cardDefaults.FullFineTuneSteps };
        var validation = new Option<int>("--validation-examples") { DefaultValueFactory = _ => cardDefaults.ValidationExamples };
        var output = new Option<string?>("--out") { Description = "card.json to write (required unless --shard builds one shard)" };
        var html = new Option<string?>("--html") { Description = "also write a self-contained HTML report (and PNG charts beside it)" };
        var noCache = new Option<bool>("--no-cache") { Description = "rebuild even if a card with the same model, data and settings exists" };
        var shard = new Option<string?>("--shard") { Description = "i/n: build shard i of n (0-based) into --stats-out; combine the n shards with `layercard card merge`" };
        var statsOut = new Option<string?>("--stats-out") { Description = "folder the shard's statistics go to (with --shard)" };
        var common = new CommonOptions();
        var command = new Command("card", "Build the Layer Card: per-layer residual signal, activation energy, coupling, cost and measured gain.")
        {
            targets, rank, alpha, calibration, eps, probeSteps, probeLayers, noProbes, lineSearch, batch, lr, fullSteps, validation, output, html, noCache, shard, statsOut,
        };
        command.Subcommands.Add(Merge(stdout));
        o.AddTo(command, withEvalData: true);
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var shardText = parsed.GetValue(shard);
            if ((shardText is null) != (parsed.GetValue(statsOut) is null))
                throw new BadInputException("--shard and --stats-out go together: --shard i/n --stats-out DIR builds shard i of n into DIR");
            if (shardText is null && parsed.GetValue(output) is null) throw new BadInputException("--out is required (the card.json to write), or --shard i/n --stats-out DIR for one shard");
            if (shardText is not null && (parsed.GetValue(output) is not null || parsed.GetValue(html) is not null))
                throw new BadInputException("--out and --html belong to the merged card: `layercard card merge DIR --out card.json` writes it once every shard is done");
            var request = defaults with
            {
                Model = parsed.GetValue(o.Model)!, Tokenizer = parsed.GetValue(o.Tokenizer), Data = parsed.GetValue(o.Data)!,
                EvalData = parsed.GetValue(o.EvalData), Format = o.Format(parsed), Labels = o.Labels(parsed), DataPlan = o.Plan(parsed),
                Card = new CardSettings
                {
                    Targets = ListOption.Split(parsed.GetValue(targets)), Rank = parsed.GetValue(rank), Alpha = parsed.GetValue(alpha),
                    CalibrationExamples = parsed.GetValue(calibration), RidgeEps = parsed.GetValue(eps),
                    ProbeSteps = parsed.GetValue(probeSteps), ProbeLayers = parsed.GetValue(probeLayers), NoProbes = parsed.GetValue(noProbes),
                    LineSearch = parsed.GetValue(lineSearch), BatchSize = parsed.GetValue(batch), LearningRate = parsed.GetValue(lr), FullFineTuneSteps = parsed.GetValue(fullSteps),
                    ValidationExamples = parsed.GetValue(validation), Seed = parsed.GetValue(o.Seed),
                },
                ProgressPath = parsed.GetValue(output) is string o2 ? Path.GetFullPath(o2) + ".progress.json" : null,
                CacheFolder = parsed.GetValue(noCache) ? null : Path.Combine(Assets.CacheRoot(), "cards"),
            };
            if (shardText is not null)
            {
                var spec = ShardSpec.Parse(shardText, "shard");
                var (_, written) = CardRecipe.ExecuteShard(request, spec, Path.GetFullPath(parsed.GetValue(statsOut)!), device, new SynchronousProgress(stdout));
                stdout.WriteLine($"wrote shard {spec.Index} of {spec.Count}: {written}");
                return ExitCodes.Success;
            }
            var outPath = Path.GetFullPath(parsed.GetValue(output)!);
            var (card, reused) = CardRecipe.Execute(request, device, new SynchronousProgress(stdout));
            if (reused) stdout.WriteLine($"[card] reusing the cached card for the same model, data and settings ({card.CacheKey})");
            card.Save(outPath);
            stdout.WriteLine(CardSummary.ToMarkdown(card));
            stdout.WriteLine($"wrote {outPath}");
            if (parsed.GetValue(html) is string htmlPath)
            {
                var full = Path.GetFullPath(htmlPath);
                CardReport.Html(card).Save(full);
                var pngs = CardReport.SavePngs(card, Path.Combine(Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full)));
                stdout.WriteLine($"wrote {full} and {pngs.Count} PNG charts");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>layercard card merge: the card of one pass from every shard of it.</summary>
    private static Command Merge(TextWriter stdout)
    {
        var inputs = new Argument<string[]>("stats") { Description = "shard files or --stats-out folders holding every shard of one card", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "card.json to write", Required = true };
        var command = new Command("merge", "Combine the shards of a card (layercard card --shard i/n --stats-out DIR) into the card of a single pass.") { inputs, output };
        command.SetAction(parsed =>
        {
            var outPath = Path.GetFullPath(parsed.GetValue(output)!);
            var card = CardRecipe.Merge(parsed.GetValue(inputs)!.Select(Path.GetFullPath).ToList(), outPath);
            stdout.WriteLine(CardSummary.ToMarkdown(card));
            stdout.WriteLine($"wrote {outPath}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Prints progress lines at once (Progress&lt;T&gt; would post them to the thread pool, out of order).</summary>
    private sealed class SynchronousProgress(TextWriter output) : IProgress<string>
    {
        /// <summary>Prints the line at once, prefixed "[card]".</summary>
        public void Report(string value) => output.WriteLine($"[card] {value}");
    }
}
