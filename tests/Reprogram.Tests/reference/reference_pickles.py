#!/usr/bin/python3
"""torch.save files, real and hostile, for the C# torch.save reader's tests (tests only).

Usage: reference_pickles.py OUTDIR MARKER

Writes, with Debian's python3-torch:
  OUTDIR/state.pth         a state dict of several dtypes, a transposed (non-contiguous) view and two tensors that
                           share one storage, saved by torch.save; OUTDIR/state.safetensors the same values, contiguous
  OUTDIR/evil.pth          a state dict whose extra entry unpickles to os.system("touch MARKER"): torch.load without
                           weights_only runs it (this script checks that it does, then removes MARKER)
  OUTDIR/evil-eval.pth     the same through builtins.eval
  OUTDIR/model.pth         a whole pickled nn.Module (torch.save(model)), not a state dict
  OUTDIR/checkpoint.pth    a training checkpoint {"state_dict": ..., "epoch": 3}
  OUTDIR/legacy.pth        the legacy (pre-1.6) bare-pickle format
"""
import json
import os
import struct
import sys

import torch


def write_safetensors(path, tensors):
    names = sorted(tensors)
    header, blobs, offset = {}, [], 0
    kinds = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.uint8: "U8", torch.bool: "BOOL"}
    for name in names:
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": kinds[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


class Evil:
    def __init__(self, call, argument):
        self.call, self.argument = call, argument

    def __reduce__(self):
        return (self.call, (self.argument,))


def main():
    out, marker = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(10, dtype=torch.int64)
    state = {
        "conv.weight": torch.randn(2, 3, 3, 3, generator=g),
        "fc.weight": base.t(),                      # a transposed view: strides (1, 6)
        "fc.bias": torch.randn(4, generator=g).half(),
        "bn.num_batches_tracked": torch.tensor(7),
        "ids.head": shared[:4],                     # two views of one storage
        "ids.tail": shared[6:],
        "mask": torch.tensor([True, False, True]),
        "pixels": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "empty": torch.zeros(0, 5),
    }
    torch.save(state, os.path.join(out, "state.pth"))
    write_safetensors(os.path.join(out, "state.safetensors"), state)

    torch.save({"w": torch.ones(2), "x": Evil(os.system, "touch " + marker)}, os.path.join(out, "evil.pth"))
    torch.save({"w": torch.ones(2), "x": Evil(eval, "__import__('os').system('touch " + marker + "')")}, os.path.join(out, "evil-eval.pth"))
    # The hostile file is live: PyTorch's own loader runs its command.
    torch.load(os.path.join(out, "evil.pth"))
    if not os.path.exists(marker):
        raise SystemExit("torch.load did not run the hostile pickle; the test would prove nothing")
    os.remove(marker)

    torch.save(torch.nn.Linear(2, 2), os.path.join(out, "model.pth"))
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, os.path.join(out, "checkpoint.pth"))
    torch.save({"w": torch.ones(2)}, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
