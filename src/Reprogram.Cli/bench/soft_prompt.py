"""PyTorch reference for the soft-prompt step of #!soft-prompt on a decoder.

Exactly the work of one training step of Reprogram's TokenClassificationTask with a SoftPrompt and a Verbalizer on a
TinyGpt-shaped decoder: token + position embeddings, pre-norm blocks (causal self-attention written out as
softmax(q k^T / sqrt(d) + mask) v, an MLP with exact GELU), final LayerNorm, untied head; all weights frozen. A soft
prompt of 8 vectors is concatenated in front of the input embeddings of [batch, 64] tokens; the next-token logits at
the last position are reduced to two label tokens by log-softmax; cross-entropy; backward to the prompt; Adam step,
loss.item(). Weights are random (N(0, 1) embeddings, PyTorch's default Linear init): only the shapes matter here.
Arguments: steps warmup vocab layers heads hidden [batch, default 16]; `reprogram bench` runs vocab 512, 4 layers,
4 heads, 128 hidden, batch 16 (soft-prompt-tiny) and vocab 50257, 12 layers, 12 heads, 768 hidden, batch 4
(soft-prompt-gpt2, the GPT-2-small shape). Threads: $BENCH_THREADS (the .NET side's count).
Prints one JSON line with tokens per second (median and best over the timed steps) and the environment.
"""
import json
import statistics
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench_common import environment, threads


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def attention(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        allowed = torch.ones(t, t, dtype=torch.bool).tril()
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        y = F.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))

    def forward(self, h):
        h = h + self.attention(self.ln1(h))
        return h + self.fc_out(F.gelu(self.fc(self.ln2(h))))


class Gpt(nn.Module):
    def __init__(self, vocab, positions, layers, heads, d):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward_embeddings(self, e):
        h = e + self.wpe(torch.arange(e.shape[1]))
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h))


def main():
    steps, warmup, vocab, layers, heads, d = (int(a) for a in sys.argv[1:7])
    batch = int(sys.argv[7]) if len(sys.argv) > 7 else 16
    n = threads()
    torch.manual_seed(0)
    length, prompt_tokens = 64, 8
    model = Gpt(vocab, 128, layers, heads, d).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    prompt = nn.Parameter(torch.randn(prompt_tokens, d) * 0.02)
    optimizer = torch.optim.Adam([prompt], lr=0.01)
    ids = torch.randint(4, vocab, (batch, length))
    labels = torch.randint(0, 2, (batch,))
    label_tokens = torch.tensor([1, 2])
    rates = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        e = torch.cat([prompt.unsqueeze(0).expand(batch, -1, -1), model.wte(ids)], 1)
        last = model.forward_embeddings(e)[:, -1]
        scores = F.log_softmax(last, -1).index_select(1, label_tokens)
        loss = F.cross_entropy(scores, labels)
        loss.backward()
        optimizer.step()
        loss.item()
        if step >= warmup:
            rates.append(batch * length / (time.perf_counter() - start))
    print(json.dumps({"median": statistics.median(rates), "best": max(rates), **environment(n)}))


if __name__ == "__main__":
    main()
