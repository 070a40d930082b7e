using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Models;

/// <summary>
/// A plainly written forward pass, independent of the library's modules: explicit per-head loops, an
/// explicit causal mask and softmax, float64 throughout. The library must agree with it.
/// </summary>
public static class ReferenceForward
{
    public static Tensor Logits(ModelConfig c, Dictionary<string, Tensor> w, long[] ids)
    {
        using var scope = NewDisposeScope();
        Tensor W(string name) => w[name].to(ScalarType.Float64);
        int n = ids.Length;
        var idTensor = tensor(ids);
        Tensor x;
        if (c.Family == "gpt2")
        {
            x = W("transformer.wte.weight").index_select(0, idTensor) + W("transformer.wpe.weight").narrow(0, 0, n);
            for (int l = 0; l < c.Layers; l++)
            {
                var p = $"transformer.h.{l}.";
                var a = LayerNorm(x, W(p + "ln_1.weight"), W(p + "ln_1.bias"), c.NormEps);
                var qkv = a.matmul(W(p + "attn.c_attn.weight")) + W(p + "attn.c_attn.bias");
                var q = qkv.narrow(1, 0, c.Hidden); var k = qkv.narrow(1, c.Hidden, c.Hidden); var v = qkv.narrow(1, 2 * c.Hidden, c.Hidden);
                var heads = new List<Tensor>();
                for (int h = 0; h < c.Heads; h++)
                    heads.Add(Head(q.narrow(1, h * c.HeadDim, c.HeadDim), k.narrow(1, h * c.HeadDim, c.HeadDim), v.narrow(1, h * c.HeadDim, c.HeadDim)));
                x = x + cat(heads, 1).matmul(W(p + "attn.c_proj.weight")) + W(p + "attn.c_proj.bias");
                var m = LayerNorm(x, W(p + "ln_2.weight"), W(p + "ln_2.bias"), c.NormEps);
                var f = m.matmul(W(p + "mlp.c_fc.weight")) + W(p + "mlp.c_fc.bias");
                f = 0.5 * f * (1 + tanh(Math.Sqrt(2 / Math.PI) * (f + 0.044715 * f * f * f)));
                x = x + f.matmul(W(p + "mlp.c_proj.weight")) + W(p + "mlp.c_proj.bias");
            }
            x = LayerNorm(x, W("transformer.ln_f.weight"), W("transformer.ln_f.bias"), c.NormEps);
            return x.matmul(W("transformer.wte.weight").t()).to(ScalarType.Float32).MoveToOuterDisposeScope();
        }
        x = W("model.embed_tokens.weight").index_select(0, idTensor);
        for (int l = 0; l < c.Layers; l++)
        {
            var p = $"model.layers.{l}.";
            var a = RmsNorm(x, W(p + "input_layernorm.weight"), c.NormEps);
            Tensor Proj(string name) => a.matmul(W(p + $"self_attn.{name}.weight").t()) + (c.QkvBias ? W(p + $"self_attn.{name}.bias") : 0.0);
            var q = Proj("q_proj"); var k = Proj("k_proj"); var v = Proj("v_proj");
            var heads = new List<Tensor>();
            for (int h = 0; h < c.Heads; h++)
            {
                int kvHead = h / (c.Heads / c.KvHeads);
                var qh = q.narrow(1, h * c.HeadDim, c.HeadDim);
                var kh = k.narrow(1, kvHead * c.HeadDim, c.HeadDim);
                if (c.QkNorm)
                {
                    qh = RmsNorm(qh, W(p + "self_attn.q_norm.weight"), c.NormEps);
                    kh = RmsNorm(kh, W(p + "self_attn.k_norm.weight"), c.NormEps);
                }
                heads.Add(Head(Rotate(qh, c), Rotate(kh, c), v.narrow(1, kvHead * c.HeadDim, c.HeadDim)));
            }
            x = x + cat(heads, 1).matmul(W(p + "self_attn.o_proj.weight").t());
            var m = RmsNorm(x, W(p + "post_attention_layernorm.weight"), c.NormEps);
            var gate = m.matmul(W(p + "mlp.gate_proj.weight").t());
            var up = m.matmul(W(p + "mlp.up_proj.weight").t());
            x = x + (gate * sigmoid(gate) * up).matmul(W(p + "mlp.down_proj.weight").t());
        }
        x = RmsNorm(x, W("model.norm.weight"), c.NormEps);
        var head = c.TiedEmbeddings ? W("model.embed_tokens.weight") : W("lm_head.weight");
        return x.matmul(head.t()).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    private static Tensor Head(Tensor q, Tensor k, Tensor v)
    {
        long n = q.shape[0];
        var scores = q.matmul(k.t()) / Math.Sqrt(q.shape[1]);
        var future = ones(n, n, dtype: ScalarType.Bool).triu(1);
        scores = scores.masked_fill(future, double.NegativeInfinity);
        return softmax(scores, 1).matmul(v);
    }

    /// <summary>Rotary embedding, position by position, pair by pair.</summary>
    private static Tensor Rotate(Tensor x, ModelConfig c)
    {
        long n = x.shape[0]; int d = c.HeadDim;
        var values = x.data<double>().ToArray();
        var result = new double[values.Length];
        for (int pos = 0; pos < n; pos++)
            for (int i = 0; i < d / 2; i++)
            {
                double angle = pos * Math.Pow(c.RopeTheta, -2.0 * i / d);
                int a = c.InterleavedRope ? 2 * i : i, b = c.InterleavedRope ? 2 * i + 1 : i + d / 2;
                double xa = values[pos * d + a], xb = values[pos * d + b];
                result[pos * d + a] = xa * Math.Cos(angle) - xb * Math.Sin(angle);
                result[pos * d + b] = xb * Math.Cos(angle) + xa * Math.Sin(angle);
            }
        return tensor(result, [n, d]);
    }

    private static Tensor RmsNorm(Tensor x, Tensor weight, double eps) =>
        x / sqrt((x * x).mean([-1L], keepdim: true) + eps) * weight;

    private static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias, double eps)
    {
        var mean = x.mean([-1L], keepdim: true);
        var variance = ((x - mean) * (x - mean)).mean([-1L], keepdim: true);
        return (x - mean) / sqrt(variance + eps) * weight + bias;
    }
}
