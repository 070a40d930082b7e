using System.Globalization;
using LayerCard.Card;

namespace LayerCard.Reports;

/// <summary>The card as Markdown: the per-layer table, the card's predictiveness and its own cost.</summary>
public static class CardSummary
{
    /// <summary>The card as a Markdown document: title, setup line, per-layer table (times in ms, memory in MiB), how well the signals predicted measured gains, the cost model, and what the card itself cost in seconds.</summary>
    public static string ToMarkdown(CardDocument card)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine($"# Layer Card: {card.Model.Reference} on {card.Dataset.Reference}");
        text.AppendLine();
        text.AppendLine($"{card.Model.Architecture}, {card.Model.Layers} layers, hidden {card.Model.Hidden}; LoRA r={card.Lora.Rank} alpha={F(card.Lora.Alpha)} on {string.Join(", ", card.Lora.Targets)}; " +
                        $"{card.Calibration.Examples} calibration examples ({card.Calibration.Tokens:N0} tokens).");
        text.AppendLine();
        var headers = new[] { "layer", "resnorm", "rank-r", "grad norm", "resnorm gain", "FIM-LoRA", "pred. gain", "energy tr", "cond", "eff. rank", "params", "step ms", "peak MiB", "infer ms", "measured gain" };
        var rows = card.Layers.Select(r => new[]
        {
            $"{r.Layer}", F(r.ResNorm), F(r.ResNormRankR), F(r.GradNorm), F(r.ResNormGain), F(r.FisherTrace), F(r.PredictedGain), F(r.EnergyTrace), F(r.EnergyCondition), F(r.EnergyEffectiveRank),
            $"{r.AdapterParameters:N0}", r.StepSeconds is double s ? F(s * 1000) : "-", r.PeakMemoryIncrementBytes is long m ? F(m / 1048576.0) : "-",
            r.InferenceOverheadSeconds is double o ? F(o * 1000) : "-", r.MeasuredGain is double g ? F(g) : "-",
        }).ToList();
        text.AppendLine(Markdown.Table(headers, rows));
        if (card.FunctionSpace is not null)
        {
            var model = card.FunctionSpace.ToResult();
            text.AppendLine();
            var curvature = card.FunctionSpace.LineSearch
                ? " Line-searched: each layer's curvature makes its gain the best real loss drop found at 1, 2 and 4 times the quadratic model's best step."
                : "";
            var level = model.LevelShrink < 1
                ? $"each layer alone at the layers' mean of the first-step model's ½ s²/M, {F(model.LevelShrink)} of the way towards its own (a constant chosen on docs/results' studies), and ½ s'M⁻¹s with those slopes for any set"
                : "½ s²/M per layer and ½ s'M⁻¹s for any set";
            if (model.Redundancy > 0) level += $", each pair's correlation moved {F(model.Redundancy)} of the way towards 1 (likewise a chosen constant)";
            if (model.Saturating) level += $", saturated at the base model's loss on the calibration sample, {F(model.BaseLoss!.Value)} (G becomes G / (1 + G / loss): no set removes more loss than there is)";
            text.AppendLine($"Predicted gain: the function-space signal, {level} (loss reduction per target token); all layers {F(model.SetGain(Enumerable.Range(0, card.Layers.Count)))}.{curvature} " +
                            "resnorm gain is the paper's ½ resnorm², kept beside it; its measured predictiveness is in docs/results.");
        }
        if (card.Predictiveness is { } p)
        {
            text.AppendLine();
            text.AppendLine("Spearman correlation of each signal column with the measured single-layer gain: " +
                            string.Join(", ", p.SpearmanWithMeasuredGain.Select(kv => $"{kv.Key} {F(kv.Value)}")) + ".");
            text.AppendLine($"All layers: predicted gain {F(p.AllLayersPredictedGain)} from single-layer gains and coupling (plain sum {F(p.SumOfSingleGains)}), measured {F(p.AllLayersMeasuredGain)}.");
        }
        if (card.CostModel is { } c)
            text.AppendLine($"Cost model: step = {F(c.TimeBase * 1000)} ms + {F(c.TimePerBackwardLayer * 1000)} ms per layer of backward span + {F(c.TimePerAdaptedLayer * 1000)} ms per adapted layer" +
                            (c.TimeMeanRelativeError is double e ? $"; mean relative error on {c.CheckedSets} measured sets: time {e:P0}, memory {c.MemoryMeanRelativeError:P0}." : ".") +
                            (c.MemoryFitted ? "" : " Time only, from timed LoRA steps on the top layer alone, the bottom layer alone and all layers; memory fractions follow the step's structure (the backward span)."));
        var t = card.Timing;
        text.AppendLine($"The card took {F(t.CardSeconds)} s: signals {F(t.SignalSeconds)} s ({F(t.SignalOverForwardBackward)}x an all-layer LoRA step per calibration batch), probes {F(t.ProbeSeconds)} s" +
                        (t.FullFineTuneSeconds is double full ? $"; a full-layer fine-tune of {t.FullFineTuneSteps} steps takes about {F(full)} s at the measured all-layer step time, so the card costs {F(t.CardOverFullFineTune)}x of it." : "."));
        return text.ToString();
    }

    private static string F(double? value) => value switch
    {
        null => "-",
        double v when double.IsNaN(v) => "n/a",
        double v when v != 0 && (Math.Abs(v) >= 1e5 || Math.Abs(v) < 1e-3) => v.ToString("0.00e+0", CultureInfo.InvariantCulture),
        double v => v.ToString(Math.Abs(v) >= 100 ? "0.0" : "0.000", CultureInfo.InvariantCulture),
    };
}
