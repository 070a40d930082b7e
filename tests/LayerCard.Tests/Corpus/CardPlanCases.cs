using System.Text.Json.Nodes;
using static LayerCard.Tests.Corpus.CorpusFiles;
using static LayerCard.Tests.Corpus.TrainingCorpusFiles;

namespace LayerCard.Tests.Corpus;

/// <summary>
/// `card` options that cannot give a card, and `plan` fed cards that are not cards, are of another schema or
/// model, or asked for what no placement can give.
/// </summary>
public static class CardPlanCases
{
    /// <summary>`card` on the tiny model and a valid task, signal only, never touching the shared card cache.</summary>
    private static string[] Card(string root, params string[] extra) =>
    [
        "card", "--model", TinyLm(root), "--data", ValidTask(root, examples: 24), "--out", Path.Combine(root, "out", "card.json"),
        "--no-cache", .. TrainingCorpusFiles.WithDefaults(extra, ("--calibration-examples", "8"), ("--max-length", "32"), ("--threads", "1")),
    ];

    private static BadInputCase CardOption(string name, string fragment, params string[] options) => new(name, root => Card(root, options), fragment);

    private static string[] Plan(string card, params string[] extra) => ["plan", "--card", card, "--out", Path.Combine(Path.GetDirectoryName(card)!, "plan.json"), .. extra];

    private static BadInputCase PlanOption(string name, string fragment, params string[] options) =>
        new(name, root => Plan(TrainingCorpusFiles.Card(root), options), fragment);

    private static BadInputCase EditedCard(string name, string fragment, Action<JsonObject> edit) =>
        new(name, root => Plan(TrainingCorpusFiles.Card(root, edit), "--layers", "1"), fragment, "card.json");

    private static BadInputCase CardText(string name, string text, string fragment) =>
        new(name, root => Plan(WriteFile(root, "card.json", text), "--layers", "1"), fragment, "card.json");

    public static IEnumerable<BadInputCase> Cases =>
    [
        // ---- card ----
        CardOption("card-calibration-fewer-than-layers", "--calibration-examples 1: fewer examples than the model's 2 layers", "--calibration-examples", "1", "--no-probes"),
        CardOption("card-calibration-zero", "--calibration-examples must be positive, got 0", "--calibration-examples", "0"),
        CardOption("card-long-prompts-unknown", "--long-prompts bogus: expected skip or truncate-left", "--long-prompts", "bogus", "--no-probes"),
        CardOption("card-rank-zero", "--rank must be positive, got 0", "--rank", "0"),
        CardOption("card-alpha-zero", "--alpha must be positive, got 0", "--alpha", "0"),
        CardOption("card-probe-layers-out-of-range", "--probe-layers 99: layer 99 is out of range (the model has 2 layers: 0-1)", "--probe-layers", "99"),
        CardOption("card-probe-layers-word", "--probe-layers every: 'every' is not a layer index", "--probe-layers", "every"),
        CardOption("card-probe-steps-zero", "--probe-steps must be positive, got 0", "--probe-steps", "0"),
        CardOption("card-ridge-eps-negative", "--ridge-eps must be 0 or positive, got -1", "--ridge-eps", "-1"),
        CardOption("card-lr-zero", "--lr must be positive, got 0", "--lr", "0"),
        CardOption("card-validation-examples-zero", "--validation-examples must be positive, got 0", "--validation-examples", "0"),
        CardOption("card-targets-unknown", "--targets 'c_attn' names no module of LlamaForCausalLM", "--targets", "c_attn", "--no-probes"),
        new("card-eval-data-bad-line", root => Card(root, "--eval-data", Lines(root, "valid.jsonl", PromptCompletion("a", " b"), "{}"), "--no-probes"),
            "valid.jsonl:2: missing field 'prompt'", "valid.jsonl"),
        new("card-data-bad-line", root => [.. Card(root).Select(a => a.EndsWith("task.jsonl", StringComparison.Ordinal)
            ? Lines(root, "bad.jsonl", PromptCompletion("a", " b"), "{\"prompt\": \"a\", \"completion\": false}") : a), "--no-probes"],
            "bad.jsonl:2: field 'completion' must be a string, not a boolean", "bad.jsonl"),

        // ---- plan: files that are not this LayerCard's cards ----
        EditedCard("plan-card-other-schema-version", "card schema version 1 is not supported", c => c["schema_version"] = 1),
        EditedCard("plan-card-fractional-schema-version", "card schema version 1.5 is not supported", c => c["schema_version"] = 1.5),
        EditedCard("plan-card-schema-version-as-string", "card schema version \"1\" is not supported", c => c["schema_version"] = "1"),
        EditedCard("plan-card-schema-as-number", "not a Layer Card", c => c["schema"] = 1),
        EditedCard("plan-card-without-layers", "card does not match schema version 2", c => c.Remove("layers")),
        EditedCard("plan-card-coupling-wrong-size", "coupling", c => c["coupling"] = new JsonArray(new JsonArray(1.0))),
        EditedCard("plan-card-no-layers", "the card has no layers", c => { c["layers"] = new JsonArray(); c["coupling"] = new JsonArray(); c["signed_correlation"] = new JsonArray(); }),
        CardText("plan-card-not-a-card", "{\"name\": \"my-card\", \"layers\": [1, 2, 3]}", "not a Layer Card"),
        CardText("plan-card-json-array", "[1, 2, 3]", "not a Layer Card"),
        CardText("plan-card-truncated", "{\"schema\": \"layercard/card\", \"schema_version\": 1, \"layers\": [", "not valid JSON"),
        CardText("plan-card-empty", "", "not valid JSON"),
        new("plan-card-missing", root => Plan(Path.Combine(root, "card.json"), "--layers", "1"), "no such card file", "card.json"),
        new("plan-card-for-another-model", root => Plan(TrainingCorpusFiles.Card(root), "--layers", "1", "--model", TinyLm(root, "other", seed: 12)),
            "this card was made for model", "card.json"),

        // ---- plan: objectives no placement can meet ----
        PlanOption("plan-layers-beyond-model", "--layers 99: the model has 2 layers; ask for 1 to 2", "--layers", "99"),
        PlanOption("plan-layers-zero", "--layers 0: the model has 2 layers", "--layers", "0"),
        PlanOption("plan-target-gain-above-one", "--target-gain 1.5: a fraction of the full-layer gain must be in (0, 1]", "--objective", "cost", "--target-gain", "1.5"),
        PlanOption("plan-objective-unknown", "--objective nonsense: expected performance, cost or budget", "--objective", "nonsense"),
        PlanOption("plan-steps-zero", "--steps must be positive, got 0", "--objective", "cost", "--target-gain", "0.9", "--steps", "0"),
        PlanOption("plan-budget-without-budget", "--objective budget needs --budget-time, --budget-memory or --max-adapted-layers", "--objective", "budget"),
        PlanOption("plan-performance-without-layers", "--objective performance needs --layers K"),
        PlanOption("plan-cost-without-target", "--objective cost needs --target-gain F", "--objective", "cost"),
        PlanOption("plan-budget-time-zero", "--budget-time 0: must be a positive fraction", "--objective", "budget", "--budget-time", "0"),
        PlanOption("plan-budget-nothing-fits", "no placement fits the given budgets", "--objective", "budget", "--budget-time", "1e-9"),
        PlanOption("plan-cost-nothing-fits", "--target-gain 0.5: no placement fits the given budgets", "--objective", "cost", "--target-gain", "0.5", "--budget-time", "1e-9"),
        PlanOption("plan-max-adapted-layers-beyond-model", "--max-adapted-layers 3: the model has 2 layers", "--objective", "budget", "--max-adapted-layers", "3"),
    ];
}
