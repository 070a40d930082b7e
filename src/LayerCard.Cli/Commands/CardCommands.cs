using System.CommandLine;
using LayerCard.Card;
using LayerCard.Common;

namespace LayerCard.Cli.Commands;

/// <summary>layercard card: build the Layer Card of a model on a task.</summary>
public static class CardCommands
{
    public static Command Card(TextWriter stdout)
    {
        var o = new DataOptionSet();
        var targets = new Option<string?>("--targets") { Description = "modules the card's LoRA adapts (default q_proj,v_proj; GPT-2 attn.c_attn)" };
        var rank = new Option<int>("--rank") { DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--alpha") { DefaultValueFactory = _ => 16 };
        var calibration = new Option<int>("--calibration-examples") { DefaultValueFactory = _ => 64 };
        var eps = new Option<double>("--ridge-eps") { Description = "ridge as a fraction of the mean eigenvalue of each input covariance", DefaultValueFactory = _ => 1e-3 };
        var probeSteps = new Option<int?>("--probe-steps") { Description = "steps of each single-layer LoRA probe (default: the card costs at most half a full fine-tune)" };
        var probeLayers = new Option<string?>("--probe-layers") { Description = "layers that get probe runs (default all): 3,5,7, 2-4, top:K" };
        var noProbes = new Option<bool>("--no-probes") { Description = "signal columns only, in seconds" };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 8 };
        var lr = new Option<double>("--lr") { Description = "learning rate of the probe runs", DefaultValueFactory = _ => 2e-3 };
        var fullSteps = new Option<int>("--finetune-steps") { Description = "steps of the full-layer fine-tune the card is weighed against", DefaultValueFactory = _ => 300 };
        var validation = new Option<int>("--validation-examples") { DefaultValueFactory = _ => 64 };
        var output = new Option<string>("--out") { Description = "card.json to write", Required = true };
        var html = new Option<string?>("--html") { Description = "also write a self-contained HTML report (and PNG charts beside it)" };
        var noCache = new Option<bool>("--no-cache") { Description = "rebuild even if a card with the same model, data and settings exists" };
        var common = new CommonOptions();
        var command = new Command("card", "Build the Layer Card: per-layer residual signal, activation energy, coupling, cost and measured gain.")
        {
            targets, rank, alpha, calibration, eps, probeSteps, probeLayers, noProbes, batch, lr, fullSteps, validation, output, html, noCache,
        };
        o.AddTo(command, withEvalData: true);
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var outPath = Path.GetFullPath(parsed.GetValue(output)!);
            var request = new CardRequest
            {
                Model = parsed.GetValue(o.Model)!, Tokenizer = parsed.GetValue(o.Tokenizer), Data = parsed.GetValue(o.Data)!,
                EvalData = parsed.GetValue(o.EvalData), Format = o.Format(parsed), Labels = o.Labels(parsed),
                Targets = LoraCommands.SplitList(parsed.GetValue(targets)), Rank = parsed.GetValue(rank), Alpha = parsed.GetValue(alpha),
                MaxLength = parsed.GetValue(o.MaxLength), CalibrationExamples = parsed.GetValue(calibration), RidgeEps = parsed.GetValue(eps),
                ProbeSteps = parsed.GetValue(probeSteps), ProbeLayers = parsed.GetValue(probeLayers), NoProbes = parsed.GetValue(noProbes),
                BatchSize = parsed.GetValue(batch), LearningRate = parsed.GetValue(lr), FullFineTuneSteps = parsed.GetValue(fullSteps),
                ValidationExamples = parsed.GetValue(validation), Seed = parsed.GetValue(o.Seed),
                ProgressPath = outPath + ".progress.json",
                CacheFolder = parsed.GetValue(noCache) ? null : Path.Combine(Assets.CacheRoot(), "cards"),
            };
            Validate(request);
            var (card, reused) = CardBuilder.Build(request, device, new SynchronousProgress(stdout));
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

    private static void Validate(CardRequest r)
    {
        if (r.Rank <= 0) throw new BadInputException($"--rank must be positive, got {r.Rank}");
        if (r.Targets is { Count: 0 }) throw new BadInputException("--targets names no module");
        if (r.Alpha <= 0) throw new BadInputException($"--alpha must be positive, got {r.Alpha}");
        if (r.CalibrationExamples <= 0) throw new BadInputException($"--calibration-examples must be positive, got {r.CalibrationExamples}");
        if (r.RidgeEps < 0) throw new BadInputException($"--ridge-eps must be 0 or positive, got {r.RidgeEps}");
        if (r.ProbeSteps is <= 0) throw new BadInputException($"--probe-steps must be positive, got {r.ProbeSteps}");
        if (r.BatchSize <= 0) throw new BadInputException($"--batch-size must be positive, got {r.BatchSize}");
        if (r.LearningRate <= 0) throw new BadInputException($"--lr must be positive, got {r.LearningRate}");
        if (r.FullFineTuneSteps <= 0) throw new BadInputException($"--finetune-steps must be positive, got {r.FullFineTuneSteps}");
        if (r.ValidationExamples <= 0) throw new BadInputException($"--validation-examples must be positive, got {r.ValidationExamples}");
    }

    /// <summary>Prints progress lines at once (Progress&lt;T&gt; would post them to the thread pool, out of order).</summary>
    private sealed class SynchronousProgress(TextWriter output) : IProgress<string>
    {
        public void Report(string value) => output.WriteLine($"[card] {value}");
    }
}
