using LayerCard.Common;

namespace LayerCard.Models;

/// <summary>
/// The shape of a decoder-only transformer, independent of where it came from (HF config.json or a llama2.c
/// header). Family is "llama" (RMSNorm, RoPE, gated MLP; also Mistral and Qwen) or "gpt2" (LayerNorm, learned
/// positions, plain MLP). RopeTheta is 0 for families without rotary embeddings.
/// </summary>
/// <param name="Architecture">The class name the checkpoint declares ("LlamaForCausalLM", "GPT2LMHeadModel"); llama2.c checkpoints count as Llama.</param>
/// <param name="KvHeads">Key/value heads; fewer than <paramref name="Heads"/> means grouped-query attention.</param>
/// <param name="HeadDim">Width of one attention head.</param>
/// <param name="Intermediate">Width of the MLP's hidden layer.</param>
/// <param name="Vocab">Rows of the token embedding.</param>
/// <param name="MaxPositions">Longest context in tokens (GPT-2's position table size).</param>
/// <param name="NormEps">Epsilon of the RMSNorm or LayerNorm.</param>
/// <param name="TiedEmbeddings">The output head reuses the token embedding.</param>
/// <param name="QkvBias">The q/k/v projections have biases (Qwen2, GPT-2, Llama's attention_bias).</param>
/// <param name="QkNorm">Per-head RMSNorm on queries and keys (Qwen3).</param>
/// <param name="InterleavedRope">Rotary embeddings rotate adjacent pairs (llama2.c) rather than halves (Hugging Face).</param>
/// <param name="Activation">The config's activation name; recorded only, the model classes fix their own (SiLU for Llama, gelu_new for GPT-2).</param>
public sealed record ModelConfig(
    string Family,
    string Architecture,
    int Layers,
    int Hidden,
    int Heads,
    int KvHeads,
    int HeadDim,
    int Intermediate,
    int Vocab,
    int MaxPositions,
    double NormEps,
    double RopeTheta,
    bool TiedEmbeddings,
    bool QkvBias,
    bool QkNorm,
    bool InterleavedRope,
    string Activation)
{
    /// <summary>The family name of Llama-style models.</summary>
    public const string Llama = "llama";
    /// <summary>The family name of GPT-2.</summary>
    public const string Gpt2 = "gpt2";

    /// <summary>Width of the key and value projections' outputs: KvHeads x HeadDim.</summary>
    public int KvDim => KvHeads * HeadDim;
    /// <summary>Width of the query projection's output: Heads x HeadDim.</summary>
    public int QDim => Heads * HeadDim;

    /// <summary>
    /// Throws a BadInputException naming <paramref name="source"/> when the numbers cannot describe a working model.
    /// <paramref name="explicitHeadDim"/> is true when the source set head_dim itself (Qwen3 does, and then
    /// Heads * HeadDim need not equal Hidden).
    /// </summary>
    public ModelConfig Validate(string source, bool explicitHeadDim = false)
    {
        void Positive(string field, long value)
        {
            if (value <= 0) throw BadInputException.InFile(source, $"{field} must be positive, got {value}");
        }
        if (Family != Llama && Family != Gpt2)
            throw BadInputException.InFile(source, $"unknown model family '{Family}'");
        Positive("layers", Layers);
        Positive("hidden size", Hidden);
        Positive("attention heads", Heads);
        Positive("key/value heads", KvHeads);
        if (!explicitHeadDim && Hidden % Heads != 0)
            throw BadInputException.InFile(source, $"hidden size {Hidden} is not divisible by {Heads} attention heads");
        Positive("head dim", HeadDim);
        Positive("intermediate size", Intermediate);
        Positive("vocab size", Vocab);
        Positive("max positions", MaxPositions);
        if (!(NormEps > 0) || double.IsInfinity(NormEps))
            throw BadInputException.InFile(source, $"norm epsilon must be a positive number, got {NormEps}");
        if (RopeTheta < 0 || double.IsNaN(RopeTheta) || double.IsInfinity(RopeTheta) || (Family == Llama && RopeTheta == 0))
            throw BadInputException.InFile(source, $"rope theta must be a positive number, got {RopeTheta}");
        if (!explicitHeadDim && HeadDim * Heads != Hidden)
            throw BadInputException.InFile(source, $"head dim {HeadDim} times {Heads} heads is not the hidden size {Hidden}");
        // QDim and KvDim are ints; an explicit head_dim times the heads can overflow them into a negative size.
        if ((long)Heads * HeadDim > int.MaxValue)
            throw BadInputException.InFile(source, $"{Heads} attention heads of dim {HeadDim} are too wide");
        if (Heads % KvHeads != 0)
            throw BadInputException.InFile(source, $"{Heads} attention heads are not divisible by {KvHeads} key/value heads");
        if (Family == Llama && HeadDim % 2 != 0)
            throw BadInputException.InFile(source, $"head dim {HeadDim} must be even for rotary embeddings");
        return this;
    }
}
