using System.CommandLine;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Training;

namespace LayerCard.Cli.Commands;

/// <summary>train, eval and export: LoRA on a chosen set of layers.</summary>
public static class LoraCommands
{
    public static Command Train(TextWriter stdout)
    {
        var o = new DataOptionSet();
        var layers = new Option<string>("--layers") { Description = "all, 3,5,7, 2-4, top:K or bottom:K", DefaultValueFactory = _ => "all" };
        var targets = new Option<string?>("--targets") { Description = "modules to adapt, comma separated (default q_proj,v_proj; GPT-2 attn.c_attn)" };
        var rank = new Option<int>("--rank") { DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--alpha") { DefaultValueFactory = _ => 16 };
        var dropout = new Option<double>("--dropout") { DefaultValueFactory = _ => 0.0 };
        var rsLora = new Option<bool>("--rslora") { Description = "scale by alpha/sqrt(r) (rsLoRA)" };
        var steps = new Option<int?>("--steps") { Description = "optimizer steps (default 100 unless --epochs)" };
        var epochs = new Option<double?>("--epochs");
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 2e-4 };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 8 };
        var accumulation = new Option<int>("--grad-accum") { DefaultValueFactory = _ => 1 };
        var warmup = new Option<int>("--warmup") { Description = "warmup steps", DefaultValueFactory = _ => 0 };
        var schedule = new Option<string>("--schedule") { Description = "linear, cosine or constant", DefaultValueFactory = _ => "linear" };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.01 };
        var clip = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => 1.0 };
        var evalEvery = new Option<int>("--eval-every") { Description = "validation every N steps (default: 5 times per run)", DefaultValueFactory = _ => 0 };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "checkpoint every N steps (0: never)", DefaultValueFactory = _ => 0 };
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
            var request = new TrainRequest
            {
                Model = parsed.GetValue(o.Model)!, Tokenizer = parsed.GetValue(o.Tokenizer), Data = parsed.GetValue(o.Data)!,
                EvalData = parsed.GetValue(o.EvalData), Format = o.Format(parsed), Labels = o.Labels(parsed),
                Layers = parsed.GetValue(layers)!, Targets = SplitList(parsed.GetValue(targets)), Rank = parsed.GetValue(rank),
                Alpha = parsed.GetValue(alpha), Dropout = parsed.GetValue(dropout), UseRsLora = parsed.GetValue(rsLora),
                MaxLength = parsed.GetValue(o.MaxLength), Epochs = parsed.GetValue(epochs), Limit = parsed.GetValue(o.Limit),
                EvalLimit = parsed.GetValue(o.EvalLimit), HoldOutFraction = parsed.GetValue(o.HoldOut), InitAdapter = parsed.GetValue(adapter),
                CommandLine = "layercard " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1)),
                Training = new TrainingOptions
                {
                    Steps = parsed.GetValue(steps) ?? 100, BatchSize = parsed.GetValue(batch), GradientAccumulation = parsed.GetValue(accumulation),
                    LearningRate = parsed.GetValue(lr), WarmupSteps = parsed.GetValue(warmup), Decay = decay, WeightDecay = parsed.GetValue(weightDecay),
                    MaxGradNorm = parsed.GetValue(clip), EvalEvery = parsed.GetValue(evalEvery), CheckpointEvery = parsed.GetValue(checkpointEvery),
                    Seed = parsed.GetValue(o.Seed), OutputDirectory = Path.GetFullPath(parsed.GetValue(output)!), Resume = parsed.GetValue(resume),
                },
            };
            var summary = TrainingRun.Execute(request, device, ConsoleTrainingObserver.For(stdout));
            stdout.WriteLine($"adapted layers {string.Join(",", summary.Layers)} ({summary.TrainableParameters:N0} trainable parameters), {summary.Steps} steps, {summary.Tokens:N0} tokens");
            stdout.WriteLine($"wall {summary.WallSeconds:F1} s, mean step {summary.MeanStepSeconds * 1000:F1} ms, peak memory {summary.PeakMemoryBytes / 1048576.0:F0} MiB");
            if (summary.FinalValidationLoss is double v)
                stdout.WriteLine($"validation loss {summary.BaseValidationLoss:F4} -> {v:F4}");
            stdout.WriteLine($"wrote {request.Training.OutputDirectory} (adapter_config.json, adapter_model.safetensors, run-summary.json, metrics.jsonl, loss-curve.png)");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Eval(TextWriter stdout)
    {
        var o = new DataOptionSet();
        var adapter = new Option<string?>("--adapter") { Description = "a PEFT adapter folder (default: the base model alone)" };
        var metric = new Option<string?>("--metric") { Description = "loss, accuracy, exact-match or bleu (default: by data format)" };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 16 };
        var common = new CommonOptions();
        var command = new Command("eval", "Evaluate the base model or base + adapter on a dataset.") { adapter, metric, maxNew, batch };
        o.AddTo(command, withEvalData: false);
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            var device = common.Apply(parsed);
            var requested = ParseMetric(parsed.GetValue(metric));
            if (parsed.GetValue(maxNew) < 0) throw new BadInputException($"--max-new-tokens must be 0 or positive, got {parsed.GetValue(maxNew)}");
            if (parsed.GetValue(batch) <= 0) throw new BadInputException($"--batch-size must be at least 1, not {parsed.GetValue(batch)}");
            using var loaded = ModelLoader.Load(parsed.GetValue(o.Model)!, parsed.GetValue(o.Tokenizer), device);
            var data = DatasetLoader.Load(parsed.GetValue(o.Data)!, new DataOptions(o.Format(parsed), o.Labels(parsed), parsed.GetValue(o.MaxLength), parsed.GetValue(o.Seed), 0, parsed.GetValue(o.Limit)));
            var chosen = requested ?? TaskEvaluation.DefaultMetric(data.Format);
            using var lora = parsed.GetValue(adapter) is string a ? PeftAdapter.Load(Assets.Resolve(a, "--adapter"), loaded.Model) : null;
            var result = TaskEvaluation.Run(loaded.Model, loaded.RequireTokenizer(), data, chosen, parsed.GetValue(o.MaxLength), parsed.GetValue(batch), device, parsed.GetValue(maxNew));
            stdout.WriteLine($"examples       {result.Examples}");
            if (result.Loss is double loss) stdout.WriteLine($"loss           {loss:F4}\nperplexity     {result.Perplexity:F3}");
            if (result.Accuracy is double acc) stdout.WriteLine($"accuracy       {acc:P2}\nmajority class {result.MajorityBaseline:P2} (always '{result.MajorityLabel}')");
            if (result.ExactMatch is double em) stdout.WriteLine($"exact match    {em:P2}");
            if (result.Bleu is double bleu) stdout.WriteLine($"BLEU-4         {bleu * 100:F2}\nROUGE-L        {result.RougeL * 100:F2}");
            foreach (var sample in result.Samples ?? []) stdout.WriteLine($"sample         {sample.Replace('\n', ' ')}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Export(TextWriter stdout)
    {
        var model = new Option<string>("--model") { Required = true };
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

    public static IReadOnlyList<string>? SplitList(string? text) =>
        text?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>Model and data options shared by the commands that read a dataset.</summary>
public sealed class DataOptionSet
{
    public Option<string> Model { get; } = new("--model") { Description = "a Hugging Face model folder, a llama2.c .bin, or stories260K", Required = true };
    public Option<string?> Tokenizer { get; } = new("--tokenizer") { Description = "default: beside the model" };
    public Option<string> Data { get; } = new("--data") { Description = "a dataset file or a known name (sst2, sst2:test, gsm8k, e2e, tinyshakespeare)", Required = true };
    public Option<string?> EvalData { get; } = new("--eval-data") { Description = "validation data (default: a held-out part of --data)" };
    public Option<string?> FormatOption { get; } = new("--format") { Description = "text, prompt-completion, alpaca, gsm8k, classification, e2e, plain (default: detected)" };
    public Option<string?> LabelsOption { get; } = new("--labels") { Description = "label words for classification, comma separated (index 0 first)" };
    public Option<int> MaxLength { get; } = new("--max-length") { DefaultValueFactory = _ => 256 };
    public Option<int?> Limit { get; } = new("--limit") { Description = "use the first N examples" };
    public Option<int?> EvalLimit { get; } = new("--eval-limit") { Description = "use the first N validation examples" };
    public Option<double> HoldOut { get; } = new("--holdout") { Description = "held-out fraction when there is no --eval-data", DefaultValueFactory = _ => 0.1 };
    public Option<long> Seed { get; } = new("--seed") { DefaultValueFactory = _ => 0 };

    public void AddTo(Command command, bool withEvalData)
    {
        foreach (var option in new Option[] { Model, Tokenizer, Data, FormatOption, LabelsOption, MaxLength, Limit, Seed }) command.Options.Add(option);
        if (!withEvalData) return;
        command.Options.Add(EvalData);
        command.Options.Add(EvalLimit);
        command.Options.Add(HoldOut);
    }

    public DataFormat Format(ParseResult parsed) => ParseFormat(parsed.GetValue(FormatOption));

    public static DataFormat ParseFormat(string? text) => DataFormats.Parse(text, "--format");

    public IReadOnlyList<string>? Labels(ParseResult parsed) => LoraCommands.SplitList(parsed.GetValue(LabelsOption));
}
