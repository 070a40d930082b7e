using System.Text.Json.Nodes;
using LayerCard.Tests.Foundation;
using static LayerCard.Tests.Corpus.TrainingCorpusFiles;

namespace LayerCard.Tests.Corpus;

/// <summary>
/// Option mistakes of `train`, `eval` and `export`, and adapters or checkpoints that do not belong to the run.
/// All are refused before the first training step, so stdout stays empty.
/// </summary>
public static class TrainingOptionCases
{
    private static BadInputCase Train(string name, string fragment, params string[] options) => new(name, root => TrainValid(root, options), fragment);

    /// <summary>The arguments without <paramref name="option"/> and its value.</summary>
    private static string[] Without(string[] args, string option)
    {
        var i = Array.IndexOf(args, option);
        return [.. args[..i], .. args[(i + 2)..]];
    }

    public static IEnumerable<BadInputCase> Cases =>
    [
        // ---- train: LoRA and optimizer settings ----
        Train("train-rank-zero", "--rank must be positive, got 0", "--rank", "0"),
        Train("train-alpha-negative", "--alpha must be positive, got -1", "--alpha", "-1"),
        Train("train-dropout-above-one", "--dropout must be in [0, 1), got 1.5", "--dropout", "1.5"),
        Train("train-lr-zero", "--lr must be positive, got 0", "--lr", "0"),
        Train("train-lr-negative", "--lr must be positive, got -1", "--lr", "-1"),
        Train("train-lr-nan", "--lr must be positive", "--lr", "NaN"),
        Train("train-lr-beyond-float32", "does not fit a float32", "--lr", "1e39"),
        Train("train-decay-step-beyond-float32", "times --weight-decay 100 does not fit a float32", "--lr", "1e37", "--weight-decay", "100"),
        Train("train-steps-zero", "--steps must be positive, got 0", "--steps", "0"),
        Train("train-batch-size-zero", "--batch-size must be positive, got 0", "--batch-size", "0"),
        Train("train-grad-accum-zero", "--grad-accum must be positive, got 0", "--grad-accum", "0"),
        Train("train-warmup-negative", "--warmup must be 0 or positive, got -3", "--warmup", "-3"),
        Train("train-layers-out-of-range", "--layers 99: layer 99 is out of range (the model has 2 layers: 0-1)", "--layers", "99"),
        Train("train-layers-top-zero", "--layers top:0: expected a positive count after 'top:'", "--layers", "top:0"),
        Train("train-layers-top-too-many", "--layers top:5: asks for 5 layers but the model has 2", "--layers", "top:5"),
        Train("train-layers-word", "--layers abc: 'abc' is not a layer index", "--layers", "abc"),
        Train("train-layers-empty-range", "--layers 1-0: range 1-0 is empty", "--layers", "1-0"),
        Train("train-targets-unknown", "--targets 'nope' names no module of LlamaForCausalLM", "--targets", "nope"),
        Train("train-targets-empty", "--targets names no module", "--targets", ","),
        Train("train-schedule-unknown", "--schedule weird: expected linear, cosine or constant", "--schedule", "weird"),
        new("train-steps-and-epochs", root => [.. TrainValid(root), "--epochs", "2"], "give --steps or --epochs, not both"),
        new("train-epochs-negative", root => [.. Without(TrainValid(root), "--steps"), "--epochs", "-1"], "--epochs must be positive, got -1"),
        Train("train-max-grad-norm-nan", "--max-grad-norm must be 0 or positive", "--max-grad-norm", "NaN"),
        Train("train-weight-decay-negative", "--weight-decay must be 0 or positive, got -0.1", "--weight-decay", "-0.1"),
        Train("train-checkpoint-every-negative", "--checkpoint-every must be 0 or positive, got -1", "--checkpoint-every", "-1"),
        Train("train-eval-every-negative", "--eval-every must be 0 or positive, got -5", "--eval-every", "-5"),
        Train("train-rank-not-a-number", "'eight'", "--rank", "eight"),
        Train("train-long-prompts-unknown", "--long-prompts bogus: expected skip or truncate-left", "--long-prompts", "bogus"),

        // ---- train: resume and starting adapters ----
        new("train-resume-other-settings", root =>
        {
            var first = TrainValid(root, "--steps", "2", "--checkpoint-every", "1", "--lr", "1e-3");
            var made = CliRunner.Run(first);
            if (made.ExitCode != 0 || !File.Exists(Path.Combine(root, "run", "checkpoint", "state.json")))
                throw new InvalidOperationException($"could not make the checkpoint to resume: {made}");
            return [.. first.Take(first.Length - 2), "--lr", "5e-3", "--resume"];
        }, "this checkpoint belongs to a run with other settings", Path.Combine("checkpoint", "state.json")),
        new("train-resume-damaged-state", root =>
        {
            var first = TrainValid(root, "--steps", "2", "--checkpoint-every", "1");
            var made = CliRunner.Run(first);
            if (made.ExitCode != 0) throw new InvalidOperationException($"could not make the checkpoint to resume: {made}");
            File.WriteAllText(Path.Combine(root, "run", "checkpoint", "state.json"), "{\"Step\": 1, ");
            return [.. first, "--resume"];
        }, "not a valid checkpoint state", Path.Combine("checkpoint", "state.json")),
        new("train-adapter-without-config", root => TrainValid(root, "--adapter", Directory.CreateDirectory(Path.Combine(root, "empty-adapter")).FullName),
            "not a PEFT adapter folder: no adapter_config.json", "empty-adapter"),
        new("train-adapter-ia3", root => TrainValid(root, "--adapter", Adapter(root, c => c["peft_type"] = "IA3")),
            "peft_type is 'IA3'; only LORA adapters are supported", "adapter_config.json"),
        new("train-adapter-layers-beyond-model", root => TrainValid(root, "--adapter", Adapter(root, c => c["layers_to_transform"] = new JsonArray(0, 7))),
            "layers_to_transform names layer 7 but the model has 2 layers", "adapter_config.json"),
        new("train-adapter-layers-as-strings", root => TrainValid(root, "--adapter", Adapter(root, c => c["layers_to_transform"] = new JsonArray("0", "1"))),
            "field 'layers_to_transform' must be", "adapter_config.json"),
        new("train-adapter-targets-as-numbers", root => TrainValid(root, "--adapter", Adapter(root, c => c["target_modules"] = new JsonArray(1, 2))),
            "field 'target_modules' must be", "adapter_config.json"),
        new("train-adapter-rank-zero", root => TrainValid(root, "--adapter", Adapter(root, c => c["r"] = 0)),
            "field 'r' must be a positive integer", "adapter_config.json"),
        new("train-adapter-rank-fractional", root => TrainValid(root, "--adapter", Adapter(root, c => c["r"] = 2.5)),
            "field 'r' must be a positive integer", "adapter_config.json"),
        new("train-adapter-config-not-json", root =>
        {
            var folder = Adapter(root);
            File.WriteAllText(Path.Combine(folder, "adapter_config.json"), "{\"peft_type\": ");
            return TrainValid(root, "--adapter", folder);
        }, "not valid JSON", "adapter_config.json"),
        new("train-adapter-without-weights", root =>
        {
            var folder = Adapter(root);
            File.Delete(Path.Combine(folder, "adapter_model.safetensors"));
            return TrainValid(root, "--adapter", folder);
        }, "no adapter_model.safetensors", "adapter"),
        new("train-adapter-rank-mismatch", root => TrainValid(root, "--adapter", Adapter(root, c => c["r"] = 4)),
            "but r=4 on this model needs", "adapter_model.safetensors"),

        // ---- eval ----
        new("eval-metric-unknown", root => Eval(root, ValidTask(root), "--metric", "nonsense"), "--metric nonsense: expected loss, accuracy, exact-match or bleu"),
        new("eval-accuracy-on-prompt-data", root => Eval(root, ValidTask(root), "--metric", "accuracy"),
            "accuracy needs classification data with label words", "task.jsonl"),
        new("eval-batch-size-zero", root => Eval(root, ValidTask(root), "--batch-size", "0"), "--batch-size must be at least 1, got 0"),
        new("eval-long-prompts-unknown", root => Eval(root, ValidTask(root), "--long-prompts", "bogus"), "--long-prompts bogus: expected skip or truncate-left"),
        new("eval-max-new-tokens-negative", root => Eval(root, ValidTask(root), "--max-new-tokens", "-1"), "--max-new-tokens must be 0 or positive, got -1"),
        new("eval-adapter-missing", root => Eval(root, ValidTask(root), "--adapter", Path.Combine(root, "no-adapter")), "no-adapter"),
        new("eval-adapter-ia3", root => Eval(root, ValidTask(root), "--adapter", Adapter(root, c => c["peft_type"] = "IA3")),
            "only LORA adapters are supported", "adapter_config.json"),

        // ---- export ----
        new("export-merged-is-model-folder", root => ["export", "--model", TinyLm(root), "--adapter", Adapter(root), "--merged", TinyLm(root)],
            "would overwrite an input; choose a new folder", "lm"),
        new("export-merged-is-adapter-folder", root => ["export", "--model", TinyLm(root), "--adapter", Adapter(root), "--merged", Path.Combine(root, "adapter") + "/"],
            "would overwrite an input; choose a new folder", "adapter"),
        new("export-adapter-for-deeper-model", root =>
        {
            var adapter = Adapter(root, c => c["layers_to_transform"] = new JsonArray(0, 1));
            return ["export", "--model", TinyLm(root, "shallow", layers: 1), "--adapter", adapter, "--merged", Path.Combine(root, "merged")];
        }, "layers_to_transform names layer 1 but the model has 1 layers", "adapter_config.json"),
    ];
}
