#!/usr/bin/env python3
"""The PyTorch peer of `layercard bench peer`: the LoRA training step a user would write in plain PyTorch.

A GPT-2-shaped model with random weights (frozen nn.Linear base layers), LoRA `x @ A.T @ B.T * alpha/r` on the
chosen layers' fused q/k/v projection (attn.c_attn), AdamW on the LoRA weights only, cross-entropy on every position
of random token sequences. Prints one JSON line: per-step seconds, tokens per step and the peak resident memory
of the training steps (VmHWM after a reset once the model is built, like LayerCard's own figure).
"""
import argparse
import ctypes
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.A = nn.Parameter(torch.empty(rank, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scaling = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.scaling


class Block(nn.Module):
    def __init__(self, hidden, heads, intermediate):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(hidden)
        self.c_attn = nn.Linear(hidden, 3 * hidden)
        self.c_proj = nn.Linear(hidden, hidden)
        self.ln_2 = nn.LayerNorm(hidden)
        self.c_fc = nn.Linear(hidden, intermediate)
        self.mlp_proj = nn.Linear(intermediate, hidden)

    def attention(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # PyTorch 1.x: the attention a user writes by hand
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            mask = torch.ones(t, t, dtype=torch.bool).triu(1)
            y = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self, layers, hidden, heads, intermediate, vocab, positions):
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(positions, hidden)
        self.h = nn.ModuleList(Block(hidden, heads, intermediate) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def resident(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--positions", type=int, default=1024)
    p.add_argument("--adapted", type=str, default="all", help="all or top:K")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-4)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Gpt2(a.layers, a.hidden, a.heads, 4 * a.hidden, a.vocab, a.positions)
    with torch.no_grad():
        for w in model.parameters():
            w.normal_(0, 0.02)
    for w in model.parameters():
        w.requires_grad_(False)
    adapted = range(a.layers) if a.adapted == "all" else range(a.layers - int(a.adapted.split(":")[1]), a.layers)
    for i in adapted:
        model.h[i].c_attn = LoraLinear(model.h[i].c_attn, a.rank, a.alpha)
    lora = [w for w in model.parameters() if w.requires_grad]
    optimizer = torch.optim.AdamW(lora, lr=a.lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(1)
    try:  # the same measurement as LayerCard's: free heap returned, then the peak reset to what is resident
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass
    times = []
    x, y = torch.randn(1024, 1024), torch.randn(1024, 1024)
    x @ y
    start = time.perf_counter()
    for _ in range(5):
        x @ y
    blas_gflops = 5 * 2 * 1024 ** 3 / (time.perf_counter() - start) / 1e9
    for _ in range(a.steps):
        ids = torch.randint(0, a.vocab, (a.batch_size, a.max_length + 1), generator=generator)
        start = time.perf_counter()
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora, 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "engine": f"pytorch {torch.__version__}", "step_seconds": times, "tokens_per_step": a.batch_size * a.max_length,
        "peak_memory_bytes": resident("VmHWM:"), "trainable_parameters": sum(w.numel() for w in lora), "threads": torch.get_num_threads(),
        "matmul_gflops": blas_gflops,
    }))


if __name__ == "__main__":
    main()
