namespace LayerCard.Models;

public sealed record ModelConfig(string Family /* "llama" | "gpt2" */, string Architecture, int Layers, int Hidden, int Heads, int KvHeads, int HeadDim, int Intermediate, int Vocab, int MaxPositions, double NormEps, double RopeTheta, bool TiedEmbeddings, bool QkvBias, bool QkNorm /* Qwen3 */, bool InterleavedRope /* llama2.c */, string Activation);
