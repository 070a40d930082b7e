using System.CommandLine;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Recipes;
using LayerCard.Training;

namespace LayerCard.Cli.Commands;

/// <summary>train, eval and export: LoRA on a chosen set of layers.</summary>
public static class LoraCommands
{
    /// <summary>layercard train.</summary>
    public static Command Train(TextWriter stdout)
    {
        var defaults = new TrainRequest { Model = "", Data = "", Training = new TrainingOptions() };
        var o = new DataOptionSet(defaults.DataPlan);
        var layers = new Option<string>("--layers") { Description = "all, 3,5,7, 2-4, top:K or bottom:K", DefaultValueFactory = _ => defaults.Layers };
        var targets = new Option<string?>("--targets") { Description = "modules to adapt, comma separated (default q_proj,v_proj; GPT-2 attn.c_attn)" };
        var rank = new Option<int>("--rank") { DefaultValueFactory = _ => defaults.Rank };
        var alpha = new Option<double>("--alpha") { DefaultValueFactory = _ => defaults.Alpha };
        var dropout = new Option<double>("--dropout") { DefaultValueFactory = _ => defaults.Dropout };
        var rsLora = new Option<bool>("--rslora") { Description = "scale by alpha/sqrt(r) (rsLoRA)" };
        var steps = new Option<int?>("--steps") { Description = $"optimizer steps (default {defaults.Training.Steps} unless --epochs)" };
        var epochs = new Option<double?>("--epochs");
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => defaults.Training.LearningRate };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => defaults.Training.BatchSize };
        var accumulation = new Option<int>("--grad-accum") { DefaultValueFactory = _ => defaults.Training.GradientAccumulation };
        var warmup = new Option<int>("--warmup") { Description = "warmup steps", DefaultValueFactory = _ => defaults.Training.WarmupSteps };
        var schedule = new Option<string>("--schedule") { Description = "linear, cosine or constant", DefaultValueFactory = _ => defaults.Training.Decay.ToString().ToLowerInvariant() };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => defaults.Training.WeightDecay };
        var clip = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => defaults.Training.MaxGradNorm };
        var evalEvery = new Option<int>("--eval-every") { Description = "validation every N steps (default: 5 times per run)", DefaultValueFactory = _ => defaults.Training.EvalEvery };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "checkpoint every N steps (0: never)", DefaultValueFactory = _ => defaults.Training.CheckpointEvery };
        var resume = new Option<bool>("--resume") { Description = "continue from the checkpoint in --out" };
        var adapter = new Option<string?>("--adapter") { Description = "a PEFT adapter folder to continue training" };
        var output = new Option<string>("--out") { Description = "output folder: PEFT adapter, run-summary.json, metrics", Required = true };
        var common = new CommonOptions();
        var command = new Command("train", "Train LoRA on the chosen layers and write a PEFT adapter.")
        {
            layers, targets, rank, alpha, dropout, rsLora, steps, epochs, lr, batch, accumulation, warmup, schedule,
            weightDecay, clip, evalEvery, checkpointEvery, resume, adapter, output,
        };
        o.AddTo(command, withEvalData: true);
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var decay = parsed.GetValue(schedule)!.ToLowerInvariant() switch
            {
                "linear" => DecayKind.Linear,
                "cosine" => DecayKind.Cosine,
                "constant" => DecayKind.Constant,
                var s => throw new BadInputException($"--schedule {s}: expected linear, cosine or constant"),
            };
            if (parsed.GetValue(steps) is not null && parsed.GetValue(epochs) is not null)
                throw new BadInputException("give --steps or --epochs, not both");
            var request = defaults with
            {
                Model = parsed.GetValue(o.Model)!, Tokenizer = parsed.GetValue(o.Tokenizer), Data = parsed.GetValue(o.Data)!,
                EvalData = parsed.GetValue(o.EvalData), Format = o.Format(parsed), Labels = o.Labels(parsed),
                Layers = parsed.GetValue(layers)!, Targets = ListOption.Split(parsed.GetValue(targets)), Rank = parsed.GetValue(rank),
                Alpha = parsed.GetValue(alpha), Dropout = parsed.GetValue(dropout), UseRsLora = parsed.GetValue(rsLora),
                Epochs = parsed.GetValue(epochs), DataPlan = o.Plan(parsed), InitAdapter = parsed.GetValue(adapter),
                CommandLine = "layercard " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1)),
                Training = defaults.Training with
                {
                    Steps = parsed.GetValue(steps) ?? defaults.Training.Steps, BatchSize = parsed.GetValue(batch), GradientAccumulation = parsed.GetValue(accumulation),
                    LearningRate = parsed.GetValue(lr), WarmupSteps = parsed.GetValue(warmup), Decay = decay, WeightDecay = parsed.GetValue(weightDecay),
                    MaxGradNorm = parsed.GetValue(clip), EvalEvery = parsed.GetValue(evalEvery), CheckpointEvery = parsed.GetValue(checkpointEvery),
                    Seed = parsed.GetValue(o.Seed), OutputDirectory = Path.GetFullPath(parsed.GetValue(output)!), Resume = parsed.GetValue(resume),
                },
            };
            var summary = TrainRecipe.Execute(request, device, ConsoleTrainingObserver.For(stdout));
            stdout.WriteLine($"adapted layers {string.Join(",", summary.Layers)} ({summary.TrainableParameters:N0} trainable parameters), {summary.Steps} steps, {summary.Tokens:N0} tokens");
            stdout.WriteLine($"wall {summary.WallSeconds:F1} s, mean step {summary.MeanStepSeconds * 1000:F1} ms, peak memory {summary.PeakMemoryBytes / 1048576.0:F0} MiB");
            if (summary.FinalValidationLoss is double v)
                stdout.WriteLine($"validation loss {summary.BaseValidationLoss:F4} -> {v:F4}");
            stdout.WriteLine($"wrote {request.Training.OutputDirectory} (adapter_config.json, adapter_model.safetensors, run-summary.json, metrics.jsonl, loss-curve.png)");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>layercard eval.</summary>
    public static Command Eval(TextWriter stdout)
    {
        var defaults = new EvalRequest { Model = "", Data = "" };
        var o = new DataOptionSet(new DataPlan { MaxLength = defaults.MaxLength });
        var adapter = new Option<string?>("--adapter") { Description = "a PEFT adapter folder (default: the base model alone)" };
        var metric = new Option<string?>("--metric") { Description = "loss, accuracy, exact-match or bleu (default: by data format)" };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => defaults.MaxNewTokens };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => defaults.BatchSize };
        var common = new CommonOptions();
        var command = new Command("eval", "Evaluate the base model or base + adapter on a dataset.") { adapter, metric, maxNew, batch };
        o.AddTo(command, withEvalData: false);
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var result = EvalRecipe.Execute(defaults with
            {
                Model = parsed.GetValue(o.Model)!, Tokenizer = parsed.GetValue(o.Tokenizer), Data = parsed.GetValue(o.Data)!, Format = o.Format(parsed),
                Labels = o.Labels(parsed), Adapter = parsed.GetValue(adapter), Metric = ParseMetric(parsed.GetValue(metric)), MaxLength = parsed.GetValue(o.MaxLength),
                Limit = parsed.GetValue(o.Limit), BatchSize = parsed.GetValue(batch), MaxNewTokens = parsed.GetValue(maxNew),
                LongPrompts = o.LongPrompts(parsed),
            }, device);
            stdout.WriteLine($"examples       {result.Examples}");
            if (result.Skipped > 0) stdout.WriteLine($"skipped        {result.Skipped}");
            if (result.PromptsCut > 0) stdout.WriteLine($"prompts cut    {result.PromptsCut} (from the left)");
            if (result.DataSummary is string data) stdout.WriteLine($"data           {data}");
            if (result.Loss is double loss) stdout.WriteLine($"loss           {loss:F4}\nperplexity     {result.Perplexity:F3}");
            if (result.Accuracy is double acc) stdout.WriteLine($"accuracy       {acc:P2}\nmajority class {result.MajorityBaseline:P2} (always '{result.MajorityLabel}')");
            if (result.ExactMatch is double em) stdout.WriteLine($"exact match    {em:P2}");
            if (result.Bleu is double bleu) stdout.WriteLine($"BLEU-4         {bleu * 100:F2}\nROUGE-L        {result.RougeL * 100:F2}");
            foreach (var sample in result.Samples ?? []) stdout.WriteLine($"sample         {sample.Replace('\n', ' ')}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>layercard export.</summary>
    public static Command Export(TextWriter stdout)
    {
        var model = new Option<string>("--model") { Description = DataOptionSet.ModelDescription, Required = true };
        var adapter = new Option<string>("--adapter") { Description = "a PEFT adapter folder", Required = true };
        var merged = new Option<string>("--merged") { Description = "output: a Hugging Face model folder with the adapter merged in", Required = true };
        var command = new Command("export", "Merge an adapter into the base weights and write a Hugging Face model folder.") { model, adapter, merged };
        command.SetAction(parsed =>
        {
            var output = Path.GetFullPath(parsed.GetValue(merged)!);
            using var loaded = ModelLoader.Load(parsed.GetValue(model)!, null, TorchSharp.torch.CPU);
            var inputs = new[] { loaded.Source, Path.GetFullPath(parsed.GetValue(adapter)!) };
            if (inputs.Any(i => Path.GetFullPath(i).TrimEnd('/') == output.TrimEnd('/')))
                throw new BadInputException($"--merged {output}: would overwrite an input; choose a new folder");
            using var lora = PeftAdapter.Load(Assets.Resolve(parsed.GetValue(adapter)!, "--adapter"), loaded.Model);
            lora.Merge();
            MergedExport.Write(output, loaded);
            stdout.WriteLine($"wrote {output} ({loaded.Config.Architecture}, {lora.Adapters.Count} adapted modules merged)");
            return ExitCodes.Success;
        });
        return command;
    }

    private static TaskMetric? ParseMetric(string? text) => text?.ToLowerInvariant() switch
    {
        null => null,
        "loss" or "perplexity" => TaskMetric.Loss,
        "accuracy" => TaskMetric.Accuracy,
        "exact-match" or "em" => TaskMetric.ExactMatch,
        "bleu" or "rouge" => TaskMetric.Bleu,
        var m => throw new BadInputException($"--metric {m}: expected loss, accuracy, exact-match or bleu"),
    };

}

