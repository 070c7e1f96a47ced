"""PyTorch reference for the gemm workload of `reprogram bench`.

The same GEMMs as ours: a 1024^3 matmul (a @ b, both [1024, 1024]) and a GPT-2 MLP linear (F.linear(x, w), x [256, 768],
w [3072, 768]), in float32 and bfloat16, random normal inputs. Per shape: `warmup` untimed calls, then up to `steps`
timed calls, stopping after about 2 s (bf16 without hardware support is very slow). The rate of a call is
2 m k n / seconds, in GFLOP/s. Arguments: steps warmup bf16 (1: run the bf16 parts; `reprogram bench` passes 0 where the
CPU has neither AVX512_BF16 nor AMX). Threads: $BENCH_THREADS.
Prints one JSON line: per part the median and best GFLOP/s, and the environment.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from bench_common import environment, threads

PARTS = [
    ("fp32 matmul 1024^3", torch.float32, 1024, 1024, 1024, False),
    ("fp32 linear [256,768]x[768,3072]", torch.float32, 256, 768, 3072, True),
    ("bf16 matmul 1024^3", torch.bfloat16, 1024, 1024, 1024, False),
    ("bf16 linear [256,768]x[768,3072]", torch.bfloat16, 256, 768, 3072, True),
]


def main():
    steps, warmup = int(sys.argv[1]), int(sys.argv[2])
    bf16 = len(sys.argv) <= 3 or sys.argv[3] == "1"
    n = threads()
    torch.manual_seed(0)
    parts = {}
    for name, dtype, m, k, cols, linear in PARTS:
        if dtype == torch.bfloat16 and not bf16:
            continue
        a = torch.randn(m, k).to(dtype)
        b = (torch.randn(cols, k) if linear else torch.randn(k, cols)).to(dtype)
        call = (lambda: F.linear(a, b)) if linear else (lambda: a @ b)
        for _ in range(warmup):
            call()
        rates, budget = [], time.perf_counter()
        while len(rates) < steps and (not rates or time.perf_counter() - budget < 2):
            start = time.perf_counter()
            call()
            rates.append(2.0 * m * k * cols / (time.perf_counter() - start) / 1e9)
        parts[name] = {"median": statistics.median(rates), "best": max(rates)}
    print(json.dumps({"parts": parts, **environment(n)}))


if __name__ == "__main__":
    main()
