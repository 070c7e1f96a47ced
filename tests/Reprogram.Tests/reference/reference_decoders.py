#!/usr/bin/python3
"""Independent PyTorch reference for the C# GPT-2 and Llama decoders (tests only).

Usage: reference_decoders.py OUTDIR SEED

Writes three tiny random checkpoints in the Hugging Face layout, each in its own folder:
  OUTDIR/gpt2   GPT-2, 2 layers, 4 heads, 64 hidden, vocab 100; Conv1D weights [in, out]; lm_head tied (absent)
  OUTDIR/llama  Llama, 2 layers, 4 heads, 2 key/value heads (GQA), untied lm_head, no biases
  OUTDIR/qwen2  Qwen2, 2 layers, 4 heads, 1 key/value head, q/k/v biases, tied embeddings
  OUTDIR/mistral  a SentencePiece Llama: Mistral config (sliding_window 4 over 9 positions), GQA, untied lm_head, and a
                tokenizer.model that google/sentencepiece (Debian's python3-sentencepiece) trains here (BPE, byte fallback);
                input_ids are the tokenizer's ids of reference_text.txt, BOS first, as Hugging Face's Llama tokenizer gives them;
                two added tokens (<|im_start|>, <|im_end|>) and a ChatML chat_template in tokenizer_config.json
Each folder holds config.json, model.safetensors and reference.safetensors (input_ids int64 [B, T],
logits float32 [B, T, V]). The math below is written from the papers / HF conventions directly, with plain
tensor operations (no nn.Module from the C# side, no transformers), in float64, then stored as float32.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def write_safetensors(path, tensors):
    """Minimal safetensors writer: u64 LE header length, JSON header, raw little-endian data."""
    names = sorted(tensors)
    header, blobs, offset = {}, [], 0
    for name in names:
        a = np.ascontiguousarray(tensors[name])
        dtype = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[a.dtype]
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def rand(g, *shape, std=0.02, mean=0.0):
    # Rounded to float32 (what the checkpoint holds), computed on in float64.
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * std + mean).float().double()


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def causal_softmax_attention(q, k, v, window=None):
    """q [B, H, T, d], k/v [B, H, T, d] -> [B, H, T, d] with a lower-triangular mask; with a sliding window W (Mistral)
    query i sees keys i - W + 1 .. i."""
    t = q.shape[2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    mask = (j <= i) if window is None else (j <= i) & (i - j < window)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


# ---------------------------------------------------------------------------------------------- GPT-2

def gpt2(out, g, ids):
    V, C, L, H, P, eps = 100, 64, 2, 4, 32, 1e-5
    w = {}
    w["transformer.wte.weight"] = rand(g, V, C, std=0.5)
    w["transformer.wpe.weight"] = rand(g, P, C, std=0.01)
    for i in range(L):
        p = f"transformer.h.{i}."
        w[p + "ln_1.weight"] = rand(g, C, std=0.1, mean=1.0)
        w[p + "ln_1.bias"] = rand(g, C, std=0.1)
        w[p + "attn.c_attn.weight"] = rand(g, C, 3 * C, std=0.2)   # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = rand(g, 3 * C, std=0.1)
        w[p + "attn.c_proj.weight"] = rand(g, C, C, std=0.2)
        w[p + "attn.c_proj.bias"] = rand(g, C, std=0.1)
        w[p + "ln_2.weight"] = rand(g, C, std=0.1, mean=1.0)
        w[p + "ln_2.bias"] = rand(g, C, std=0.1)
        w[p + "mlp.c_fc.weight"] = rand(g, C, 4 * C, std=0.2)
        w[p + "mlp.c_fc.bias"] = rand(g, 4 * C, std=0.1)
        w[p + "mlp.c_proj.weight"] = rand(g, 4 * C, C, std=0.2)
        w[p + "mlp.c_proj.bias"] = rand(g, C, std=0.1)
    w["transformer.ln_f.weight"] = rand(g, C, std=0.1, mean=1.0)
    w["transformer.ln_f.bias"] = rand(g, C, std=0.1)

    B, T = ids.shape
    d = C // H
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][torch.arange(T)]
    for i in range(L):
        p = f"transformer.h.{i}."
        a = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=-1)
        heads = lambda z: z.reshape(B, T, H, d).permute(0, 2, 1, 3)
        y = causal_softmax_attention(heads(q), heads(k), heads(v)).permute(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        m = gelu_new(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    logits = x @ w["transformer.wte.weight"].T   # tied head
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_embd": C,
              "n_layer": L, "n_head": H, "n_positions": P, "layer_norm_epsilon": eps,
              "activation_function": "gelu_new", "tie_word_embeddings": True}
    return w, config, logits


# ---------------------------------------------------------------------------------------------- Llama / Qwen2

def llama(out, g, ids, qwen, vocab=100, window=None):
    # Rotary positions need no table: the Mistral one allows long prompts (the chat-template tests run #!icl on it).
    V, C, L, H, KV, I, P = vocab, 64, 2, 4, (1 if qwen else 2), 96, (1024 if window else 64)
    eps, theta = 1e-6, (1000000.0 if qwen else 10000.0)
    d = C // H
    w = {}
    w["model.embed_tokens.weight"] = rand(g, V, C, std=0.5)
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = rand(g, C, std=0.1, mean=1.0)
        w[p + "self_attn.q_proj.weight"] = rand(g, H * d, C, std=0.2)     # nn.Linear: [out, in]
        w[p + "self_attn.k_proj.weight"] = rand(g, KV * d, C, std=0.2)
        w[p + "self_attn.v_proj.weight"] = rand(g, KV * d, C, std=0.2)
        w[p + "self_attn.o_proj.weight"] = rand(g, C, H * d, std=0.2)
        if qwen:
            w[p + "self_attn.q_proj.bias"] = rand(g, H * d, std=0.1)
            w[p + "self_attn.k_proj.bias"] = rand(g, KV * d, std=0.1)
            w[p + "self_attn.v_proj.bias"] = rand(g, KV * d, std=0.1)
        w[p + "post_attention_layernorm.weight"] = rand(g, C, std=0.1, mean=1.0)
        w[p + "mlp.gate_proj.weight"] = rand(g, I, C, std=0.2)
        w[p + "mlp.up_proj.weight"] = rand(g, I, C, std=0.2)
        w[p + "mlp.down_proj.weight"] = rand(g, C, I, std=0.2)
    w["model.norm.weight"] = rand(g, C, std=0.1, mean=1.0)
    if not qwen:
        w["lm_head.weight"] = rand(g, V, C, std=0.2)

    def rms(x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight

    def rope(x, pos):
        # Rotate pairs (j, j + d/2) by angle pos * theta^(-2j/d): the "rotate_half" layout.
        half = d // 2
        freq = theta ** (-torch.arange(half, dtype=torch.float64) * 2 / d)
        ang = pos[:, None].double() * freq[None, :]          # [T, d/2]
        c, s = torch.cos(ang), torch.sin(ang)
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)

    B, T = ids.shape
    pos = torch.arange(T)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(L):
        p = f"model.layers.{i}."
        a = rms(x, w[p + "input_layernorm.weight"])
        lin = lambda z, n: z @ w[p + n + ".weight"].T + (w[p + n + ".bias"] if (p + n + ".bias") in w else 0)
        q = lin(a, "self_attn.q_proj").reshape(B, T, H, d).permute(0, 2, 1, 3)
        k = lin(a, "self_attn.k_proj").reshape(B, T, KV, d).permute(0, 2, 1, 3)
        v = lin(a, "self_attn.v_proj").reshape(B, T, KV, d).permute(0, 2, 1, 3)
        q, k = rope(q, pos), rope(k, pos)
        # Query head h reads key/value head h // (H / KV).
        group = H // KV
        k = torch.stack([k[:, h // group] for h in range(H)], 1)
        v = torch.stack([v[:, h // group] for h in range(H)], 1)
        y = causal_softmax_attention(q, k, v, window).permute(0, 2, 1, 3).reshape(B, T, H * d)
        x = x + y @ w[p + "self_attn.o_proj.weight"].T
        m = rms(x, w[p + "post_attention_layernorm.weight"])
        gate = m @ w[p + "mlp.gate_proj.weight"].T
        up = m @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate * torch.sigmoid(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if qwen else w["lm_head.weight"]
    logits = x @ head.T
    config = {"model_type": "qwen2" if qwen else "mistral" if window else "llama",
              "architectures": ["Qwen2ForCausalLM" if qwen else "MistralForCausalLM" if window else "LlamaForCausalLM"],
              "vocab_size": V, "hidden_size": C, "intermediate_size": I, "num_hidden_layers": L,
              "num_attention_heads": H, "num_key_value_heads": KV, "max_position_embeddings": P,
              "rms_norm_eps": eps, "rope_theta": theta, "tie_word_embeddings": qwen, "hidden_act": "silu",
              "torch_dtype": "float32"}
    if window:
        config["sliding_window"] = window
    return w, config, logits


# ---------------------------------------------------------------------------------------------- SentencePiece Llama

def sentencepiece_tokenizer(folder, seed):
    """Trains a Llama-style SentencePiece BPE (identity normaliser, byte fallback) and returns the text's ids, BOS first."""
    import random
    import sentencepiece as spm
    rng = random.Random(seed)
    words = "frozen models learn nothing while prompts adapt them café 東京 😀 reprogramming tokens".split()
    corpus = os.path.join(folder, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 10))) for _ in range(500)))
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(folder, "tokenizer"), vocab_size=300,
                                   hard_vocab_limit=False, model_type="bpe", normalization_rule_name="identity",
                                   byte_fallback=True, remove_extra_whitespaces=False, split_digits=True,
                                   character_coverage=0.99, minloglevel=2, num_threads=1)
    os.remove(corpus)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
    texts = ["frozen prompts adapt 東京 models", "Ünïcode 42\ttabs"]   # unseen characters fall back to bytes
    encoded = [[sp.bos_id()] + sp.encode(t) for t in texts]
    width = min(len(e) for e in encoded)
    with open(os.path.join(folder, "reference_text.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(texts))
    # Two added tokens after the SentencePiece vocabulary and a ChatML chat template (Qwen2-Instruct's), for the
    # chat-template tests; the embedding table has rows for them.
    size = sp.get_piece_size()
    template = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
                "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    added = {str(size): {"content": "<|im_start|>", "special": True}, str(size + 1): {"content": "<|im_end|>", "special": True}}
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True, "legacy": True,
                   "added_tokens_decoder": added, "chat_template": template}, f)
    # Both rows cut to the shorter one's length (no padding in the reference forward).
    return torch.tensor([e[:width] for e in encoded]), size + 2


def main():
    out, seed = sys.argv[1], int(sys.argv[2])
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 100, (2, 9), generator=g)
    mistral_folder = os.path.join(out, "mistral")
    os.makedirs(mistral_folder, exist_ok=True)
    sp_ids, sp_vocab = sentencepiece_tokenizer(mistral_folder, seed)
    for name, build in [("gpt2", lambda: gpt2(out, g, ids)),
                        ("llama", lambda: llama(out, g, ids, False)),
                        ("qwen2", lambda: llama(out, g, ids, True)),
                        ("mistral", lambda: llama(out, g, sp_ids, False, vocab=sp_vocab, window=4))]:
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        with torch.no_grad():
            w, config, logits = build()
        write_safetensors(os.path.join(folder, "model.safetensors"), {k: v.float().numpy() for k, v in w.items()})
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        write_safetensors(os.path.join(folder, "reference.safetensors"),
                          {"input_ids": (sp_ids if name == "mistral" else ids).numpy().astype(np.int64), "logits": logits.float().numpy()})
    print("ok")


if __name__ == "__main__":
    main()
