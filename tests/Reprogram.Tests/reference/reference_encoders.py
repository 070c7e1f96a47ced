#!/usr/bin/python3
"""Independent PyTorch reference for the C# BERT and RoBERTa encoders (tests only).

Usage: reference_encoders.py OUTDIR SEED

Writes two tiny random checkpoints in the Hugging Face layouts, each in its own folder:
  OUTDIR/bert     BertForMaskedLM's file: "bert." prefix, the cls.* masked-LM head and the pooler (the encoder skips
                  them); 2 layers, 4 heads, hidden 64, intermediate 96, vocab.txt (WordPiece), eps 1e-12
  OUTDIR/roberta  RobertaModel's file: bare names, the pooler and the old embeddings.position_ids buffer; pad id 1 so
                  positions start at 2; 514-style position table (pad + 1 + 32 rows); type_vocab_size 1; eps 1e-5;
                  vocab.json + merges.txt (byte-level BPE)
Each folder holds config.json, model.safetensors, tokenizer files and reference.safetensors: input_ids and
attention_mask int64 [B, T] (row 1 right-padded) and last_hidden_state float32 [B, T, C]. The math is written from
the BERT paper (Devlin et al. 2019) and Hugging Face's conventions (post-norm blocks, erf GELU, additive attention
mask; RoBERTa's create_position_ids_from_input_ids), with plain tensor operations in float64.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_decoders import rand, write_safetensors, layer_norm  # noqa: E402


def encoder(g, family, ids, mask):
    C, L, H, I = 64, 2, 4, 96
    if family == "bert":
        V, P, types, eps, pad, prefix = 120, 40, 2, 1e-12, 0, "bert."
    else:
        V, P, types, eps, pad, prefix = 300, 1 + 1 + 32, 1, 1e-5, 1, ""
    d = C // H
    w = {}
    w["embeddings.word_embeddings.weight"] = rand(g, V, C, std=0.5)
    w["embeddings.position_embeddings.weight"] = rand(g, P, C, std=0.3)
    w["embeddings.token_type_embeddings.weight"] = rand(g, types, C, std=0.3)
    w["embeddings.LayerNorm.weight"] = rand(g, C, std=0.1, mean=1.0)
    w["embeddings.LayerNorm.bias"] = rand(g, C, std=0.1)
    for i in range(L):
        p = f"encoder.layer.{i}."
        for n in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
            w[p + n + ".weight"] = rand(g, C, C, std=0.2)        # nn.Linear: [out, in]
            w[p + n + ".bias"] = rand(g, C, std=0.1)
        w[p + "attention.output.LayerNorm.weight"] = rand(g, C, std=0.1, mean=1.0)
        w[p + "attention.output.LayerNorm.bias"] = rand(g, C, std=0.1)
        w[p + "intermediate.dense.weight"] = rand(g, I, C, std=0.2)
        w[p + "intermediate.dense.bias"] = rand(g, I, std=0.1)
        w[p + "output.dense.weight"] = rand(g, C, I, std=0.2)
        w[p + "output.dense.bias"] = rand(g, C, std=0.1)
        w[p + "output.LayerNorm.weight"] = rand(g, C, std=0.1, mean=1.0)
        w[p + "output.LayerNorm.bias"] = rand(g, C, std=0.1)

    B, T = ids.shape
    if family == "bert":
        positions = torch.arange(T).expand(B, T)
    else:
        # RoBERTa: real tokens numbered from padding_idx + 1, padding gets padding_idx.
        real = (ids != pad).long()
        positions = torch.cumsum(real, 1) * real + pad
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions] \
        + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    additive = (1.0 - mask.double())[:, None, None, :] * torch.finfo(torch.float64).min   # [B, 1, 1, T]
    for i in range(L):
        p = f"encoder.layer.{i}."
        lin = lambda z, n: z @ w[p + n + ".weight"].T + w[p + n + ".bias"]
        heads = lambda z: z.reshape(B, T, H, d).permute(0, 2, 1, 3)
        q, k, v = heads(lin(x, "attention.self.query")), heads(lin(x, "attention.self.key")), heads(lin(x, "attention.self.value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + additive
        y = (torch.softmax(scores, -1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = layer_norm(x + lin(y, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
        x = layer_norm(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)

    # What the file holds besides the encoder: the pooler, and the task model's heads.
    w["pooler.dense.weight"] = rand(g, C, C)
    w["pooler.dense.bias"] = rand(g, C)
    if family == "bert":
        w["cls.predictions.bias"] = rand(g, V)
        w["cls.predictions.transform.dense.weight"] = rand(g, C, C)
        w["cls.predictions.transform.dense.bias"] = rand(g, C)
        w["cls.predictions.transform.LayerNorm.weight"] = rand(g, C)
        w["cls.predictions.transform.LayerNorm.bias"] = rand(g, C)
    else:
        w["embeddings.position_ids"] = torch.arange(P)[None, :]
    stored = {}
    for k, t in w.items():
        name = k if k.startswith("cls.") else prefix + k
        stored[name] = t.numpy().astype(np.int64) if t.dtype == torch.int64 else t.float().numpy()
    config = {"model_type": family, "architectures": ["BertForMaskedLM" if family == "bert" else "RobertaModel"],
              "vocab_size": V, "hidden_size": C, "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": I,
              "hidden_act": "gelu", "max_position_embeddings": P, "type_vocab_size": types, "layer_norm_eps": eps,
              "pad_token_id": pad, "position_embedding_type": "absolute"}
    return stored, config, x


def bert_tokenizer(folder):
    words = ["[PAD]"] + [f"[unused{i}]" for i in range(9)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += ["hello", "world", "frozen", "model", "prompt", "soft", "learn", ",", "!", ".", "the"]
    words += [chr(c) for c in range(ord("a"), ord("z") + 1)] + [f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    assert len(words) <= 120
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(words) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True}, f)
    return {w: i for i, w in enumerate(words)}


def roberta_tokenizer(folder):
    # GPT-2's byte-to-unicode table: printable bytes map to themselves, others to 256 + n.
    chars, n = [], 0
    for b in range(256):
        printable = ord("!") <= b <= ord("~") or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF
        chars.append(chr(b) if printable else chr(256 + n))
        n += 0 if printable else 1
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for c in chars:
        vocab[c] = len(vocab)
    merges = ["h e", "l l", "he ll", "hell o", "\u0120 w", "o r", "\u0120w or", "\u0120wor l", "\u0120worl d"]
    for m in merges:
        vocab[m.replace(" ", "")] = len(vocab)
    vocab["<mask>"] = len(vocab)
    assert len(vocab) <= 300
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}, f)
    return vocab


def main():
    out, seed = sys.argv[1], int(sys.argv[2])
    g = torch.Generator().manual_seed(seed)
    for family in ["bert", "roberta"]:
        folder = os.path.join(out, family)
        os.makedirs(folder, exist_ok=True)
        vocab = bert_tokenizer(folder) if family == "bert" else roberta_tokenizer(folder)
        start, end, pad = (vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]) if family == "bert" else (0, 2, 1)
        V = 120 if family == "bert" else 300
        T = 10
        body = torch.randint(14 if family == "bert" else 4, len(vocab) - 1, (2, T - 2), generator=g)
        ids = torch.cat([torch.full((2, 1), start), body, torch.full((2, 1), end)], 1)
        mask = torch.ones(2, T, dtype=torch.long)
        ids[1, 6] = end          # row 1: 7 real tokens, then padding
        ids[1, 7:] = pad
        mask[1, 7:] = 0
        with torch.no_grad():
            w, config, hidden = encoder(g, family, ids, mask)
        write_safetensors(os.path.join(folder, "model.safetensors"), w)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        write_safetensors(os.path.join(folder, "reference.safetensors"),
                          {"input_ids": ids.numpy().astype(np.int64), "attention_mask": mask.numpy().astype(np.int64),
                           "last_hidden_state": hidden.float().numpy()})
    print("ok")


if __name__ == "__main__":
    main()
