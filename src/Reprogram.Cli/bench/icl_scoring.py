"""PyTorch reference for the 16-shot label-word scoring of #!icl, with and without the shared-prefix cache.

Exactly the work of Reprogram's LikelihoodScoring.Score on a TinyGpt-shaped decoder (token + position embeddings,
pre-norm blocks with causal self-attention written out as softmax(q k^T / sqrt(d) + mask) v and an MLP with exact GELU,
final LayerNorm, untied head; random weights, all frozen, torch.no_grad()):
- a prompt prefix of 16 demonstrations x DEMO tokens (one shared set of demonstrations for every query),
- QUERIES queries of QUERY tokens each, every query with 3 one-token label words,
- rows run in batches of 32.
Cached (1): the prefix runs once into per-layer keys/values (logits at its last position only); each batch of rows attends over them (expanded to the
batch, concatenated with the rows' own keys), positions continuing after the prefix; logits only at each row's last
position, log-softmax in float64, the 3 label words gathered. Uncached (0): each row is prefix + query, run whole; the
same reading. Ids are random (only the shapes matter); rows are all the same length, so no padding.
Arguments: steps warmup vocab layers heads hidden demo_tokens query_tokens queries cached.
`reprogram bench` runs vocab 8192, 4 layers, 6 heads, 384 hidden, 12-token demonstrations, 6-token queries,
200 queries cached and 64 uncached (there each query costs the same, so the rate does not depend on their number).
A step is one whole evaluation; the rate is queries per second. Threads: $BENCH_THREADS.
Prints one JSON line with queries per second (median and best over the timed steps) and the environment.
"""
import json
import math
import random
import statistics
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

    def attention(self, x, past):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            pk, pv = past
            k = torch.cat([pk.expand(b, -1, -1, -1), k], 2)
            v = torch.cat([pv.expand(b, -1, -1, -1), v], 2)
        s = k.shape[2]
        allowed = torch.ones(t, s, dtype=torch.bool).tril(s - t)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        y = F.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d)), (k, v)

    def forward(self, h, past=None):
        a, kv = self.attention(self.ln1(h), past)
        h = h + a
        return h + self.fc_out(F.gelu(self.fc(self.ln2(h)))), kv


class Gpt(nn.Module):
    def __init__(self, vocab, positions, layers, heads, d):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, ids, past=None, start=0, last=None):
        """Logits of the last `last` positions, and each layer's keys/values."""
        h = self.wte(ids) + self.wpe(torch.arange(start, start + ids.shape[1]))
        present = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, None if past is None else past[i])
            present.append(kv)
        if last is not None:
            h = h[:, -last:]
        return self.head(self.ln_f(h)), present


def evaluate(model, prefix, queries, choices, cached, batch=32):
    scores = []
    with torch.no_grad():
        past = None
        if cached:
            _, past = model(torch.tensor([prefix]), last=1)
        for start in range(0, len(queries), batch):
            rows = queries[start:start + batch]
            if cached:
                logits, _ = model(torch.tensor(rows), past, start=len(prefix), last=1)
            else:
                logits, _ = model(torch.tensor([prefix + r for r in rows]), last=1)
            logp = F.log_softmax(logits[:, -1].double(), -1)
            scores.append(logp.gather(1, torch.tensor(choices[start:start + batch])))
    return torch.cat(scores)


def main():
    steps, warmup, vocab, layers, heads, d, demo, query, queries, cached = (int(a) for a in sys.argv[1:11])
    n = threads()
    torch.manual_seed(0)
    model = Gpt(vocab, 16 * demo + query + 8, layers, heads, d).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    rng = random.Random(0)
    prefix = [rng.randrange(1, vocab) for _ in range(16 * demo)]
    rows = [[rng.randrange(1, vocab) for _ in range(query)] for _ in range(queries)]
    choices = [[rng.randrange(1, vocab) for _ in range(3)] for _ in range(queries)]
    rates = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        evaluate(model, prefix, rows, choices, cached == 1)
        if step >= warmup:
            rates.append(queries / (time.perf_counter() - start))
    print(json.dumps({"median": statistics.median(rates), "best": max(rates), **environment(n)}))


if __name__ == "__main__":
    main()
