"""PyTorch reference for the pad-prompt step of #!reprogram.

Exactly the work of one training step of Reprogram's ImageReprogrammingTask with a PaddingPrompt and a LinearHead:
a frozen ResNet-18 with CNTK's block counts [2, 2, 2, 3] (features only, eval mode, no parameter requires grad),
images [32, 3, 84, 84] zero-padded to 112 px, plus sigmoid(theta) * mask on the frame, ImageNet normalisation, the
network, a linear head 512 -> 10, cross-entropy, backward to theta and the head, Adam step, loss.item().
Arguments: steps warmup. Threads: $BENCH_THREADS (the .NET side's count).
Prints one JSON line: images per second (median and best over the timed steps) and the environment.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench_common import environment, threads


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, cin = [], 64
        for i, (n, cout) in enumerate(zip(blocks, [64, 128, 256, 512])):
            stage = [BasicBlock(cin, cout, 1 if i == 0 else 2)] + [BasicBlock(cout, cout, 1) for _ in range(n - 1)]
            layers.append(nn.Sequential(*stage))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return torch.flatten(F.adaptive_avg_pool2d(self.layers(x), 1), 1)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    n = threads()
    torch.manual_seed(0)
    batch, size, inner = 32, 112, 84
    model = ResNet([2, 2, 2, 3]).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    theta = torch.zeros(3, size, size, requires_grad=True)
    mask = torch.ones(1, size, size)
    before = (size - inner) // 2
    mask[:, before:before + inner, before:before + inner] = 0
    head = nn.Linear(512, 10)
    optimizer = torch.optim.Adam([theta] + list(head.parameters()), lr=0.01)
    images = torch.rand(batch, 3, inner, inner)
    labels = torch.randint(0, 10, (batch,))
    rates = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        x = F.pad(images, [before, size - inner - before] * 2) + torch.sigmoid(theta) * mask
        loss = F.cross_entropy(head(model(x)), labels)
        loss.backward()
        optimizer.step()
        loss.item()
        if step >= warmup:
            rates.append(batch / (time.perf_counter() - start))
    print(json.dumps({"median": statistics.median(rates), "best": max(rates), **environment(n)}))


if __name__ == "__main__":
    main()
