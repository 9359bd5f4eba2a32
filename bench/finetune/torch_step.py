#!/usr/bin/env python3
"""Times one PyTorch training step of a plain Llama, float32 on the CPU, with
the shapes internal/finetune's BenchmarkTrainStep uses, for a side-by-side
baseline (see RESULTS.md beside this file).

The step: forward (token embedding, per layer RMSNorm -> attention with
rotate_half RoPE and grouped-query K/V -> residual, RMSNorm -> SwiGLU MLP ->
residual; final RMSNorm; tied classifier), mean cross-entropy over all B*T
next-token targets, backward, global-norm clip 1.0, AdamW (lr 1e-4,
betas 0.9/0.99, eps 1e-8, weight decay 0.01 on 2-D tensors only), as
strata's Train with default Options. Random weights, random tokens.

usage: torch_step.py [--shape stories15M|stories260K] [--threads N]
                     [--warmup W] [--steps N] [--batch B] [--seq T]
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Shapes of modelgen.Stories15M() and llama2.c's stories260K.
SHAPES = {
    # dim, layers, heads, kv heads, hidden (MLP), vocab, max positions
    "stories15M": dict(dim=288, layers=6, heads=6, kv_heads=6, hidden=768, vocab=32000, max_pos=256, batch=8, seq=256),
    "stories260K": dict(dim=64, layers=5, heads=8, kv_heads=4, hidden=172, vocab=512, max_pos=512, batch=4, seq=64),
}
RMS_EPS = 1e-5
ROPE_THETA = 10000.0


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        r = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + RMS_EPS)
        return x * r * self.weight


def rotate_half(x):
    # (x1, x2) -> (-x2, x1) over the two halves of the head dimension.
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, dim, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, dim // heads
        self.q_proj = nn.Linear(dim, heads * self.hd, bias=False)
        self.k_proj = nn.Linear(dim, kv_heads * self.hd, bias=False)
        self.v_proj = nn.Linear(dim, kv_heads * self.hd, bias=False)
        self.o_proj = nn.Linear(heads * self.hd, dim, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = self.heads // self.kv_heads
        if group > 1:
            # each K/V head serves `group` consecutive query heads
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
        # torch 1.13 has no F.scaled_dot_product_attention: explicit scores.
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
        s = s + mask
        p = torch.softmax(s, dim=-1)
        o = (p @ v).transpose(1, 2).reshape(b, t, self.heads * self.hd)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["dim"])
        self.self_attn = Attention(c["dim"], c["heads"], c["kv_heads"])
        self.post_attention_layernorm = RMSNorm(c["dim"])
        self.mlp = MLP(c["dim"], c["hidden"])

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab"], c["dim"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"])
        hd = c["dim"] // c["heads"]
        inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = torch.outer(torch.arange(c["max_pos"], dtype=torch.float64), inv_freq)
        ang = torch.cat((ang, ang), dim=-1)  # rotate_half layout: both halves share angle i
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        b, t = idx.shape
        cos, sin = self.cos[:t], self.sin[:t]
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed_tokens(idx)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        logits = self.norm(x) @ self.embed_tokens.weight.t()  # tied classifier
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def train_flops(c, model, tokens, t):
    # Same estimate as internal/finetune/bench_test.go's trainFLOPs:
    # 6 per non-norm parameter per token plus causal attention's 6*L*d*T.
    p = sum(q.numel() for q in model.parameters())
    p_matmul = p - c["layers"] * 2 * c["dim"] - c["dim"]
    return tokens * (6 * p_matmul + 6 * c["layers"] * c["dim"] * t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="stories15M", choices=sorted(SHAPES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=0, help="default: the shape's benchmark B")
    ap.add_argument("--seq", type=int, default=0, help="default: the shape's benchmark T")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    c = SHAPES[a.shape]
    B, T = a.batch or c["batch"], a.seq or c["seq"]
    model = Llama(c)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-4, betas=(0.9, 0.99), eps=1e-8)
    # B sequences of T+1 random tokens: inputs are the first T, targets the last T.
    seqs = torch.randint(0, c["vocab"], (B, T + 1))
    x, y = seqs[:, :-1].contiguous(), seqs[:, 1:].contiguous()
    nparams = sum(p.numel() for p in model.parameters())
    flops = train_flops(c, model, B * T, T)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, shape {a.shape} "
          f"({nparams} params), B={B} T={T}, warmup {a.warmup}, timed {a.steps}", flush=True)
    for _ in range(a.warmup):
        t0 = time.perf_counter()
        loss = step()
        print(f"warmup {time.perf_counter() - t0:.3f} s loss {loss:.4f}", flush=True)
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        times.append(dt)
        print(f"step {i} {dt:.3f} s loss {loss:.4f}", flush=True)
    med = statistics.median(times)
    print(f"RESULT torch shape={a.shape} threads={a.threads} B={B} T={T} "
          f"median {med:.4f} s/step mean {statistics.mean(times):.4f} s/step "
          f"{B * T / med:.0f} tokens/s {flops / med / 1e9:.2f} GFLOP/s n={len(times)}", flush=True)


if __name__ == "__main__":
    main()
