#!/usr/bin/python3
"""Reference tokenisations from google/sentencepiece (Debian's python3-sentencepiece) for the C# SentencePiece tests.

Usage: reference_sentencepiece.py OUTDIR SEED

Trains small SentencePiece models (spm_train through the Python binding) on a generated corpus and writes, per model,
a folder with what a Hugging Face checkpoint would hold:
  tokenizer.model         the SentencePiece model itself
  tokenizer.json          the same tokenizer in Hugging Face's format, written the way its SentencePiece converters write
                          it (Llama: Prepend + Replace normaliser, BPE with byte fallback, merges from the vocabulary;
                          T5-style Unigram: Precompiled charsmap, WhitespaceSplit + Metaspace)
  tokenizer_config.json   bos/eos tokens and legacy: true
Models:
  bpe_llama      BPE, identity normaliser, byte fallback, split digits, whitespace-only pieces (Llama 2 / Mistral)
  unigram_llama  Unigram, identity normaliser, byte fallback
  unigram_t5     Unigram, nmt_nfkc, remove extra whitespace, no byte fallback (unknown characters -> <unk>)
  bpe_nfkc       BPE with nmt_nfkc and remove extra whitespace (the C# side refuses it)
OUTDIR/expected.json holds the strings (a few hundred: edge cases of whitespace, Unicode, digits, special tokens, and
random mixtures) and, per model, the ids and decoded text. Special tokens in text are split out first and the text
between them encoded on its own, as Hugging Face's (legacy) Llama tokenizer does.
"""
import base64
import json
import os
import random
import re
import sys

import sentencepiece as spm


def varint(data, i):
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def fields(data):
    """(field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(data, i)
            value, i = data[i:i + n], i + n
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def precompiled_charsmap(model_bytes):
    for number, _, value in fields(model_bytes):
        if number == 3:  # normalizer_spec
            for n, _, v in fields(value):
                if n == 2:
                    return bytes(v)
    return b""


def hf_tokenizer_json(sp, model_bytes, config):
    """The tokenizer.json Hugging Face's converters write for this SentencePiece model."""
    size = sp.get_piece_size()
    pieces = [sp.id_to_piece(i) for i in range(size)]
    added = [{"id": i, "content": pieces[i], "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i in range(size) if sp.is_control(i) or sp.is_unknown(i)]
    if config["model_type"] == "bpe":
        vocab = {p: i for i, p in enumerate(pieces)}
        # Merges: every split of a piece into two pieces, ordered by the merged piece's id (its score order), then by
        # the left part's id -- the order of Hugging Face's SentencePieceExtractor.
        merges = []
        for i, piece in enumerate(pieces):
            if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i):
                continue
            splits = [(vocab[piece[:k]], piece[:k], piece[k:]) for k in range(1, len(piece))
                      if piece[:k] in vocab and piece[k:] in vocab]
            for _, left, right in sorted(splits):
                merges.append([left, right])
        model = {"type": "BPE", "dropout": None, "unk_token": sp.id_to_piece(sp.unk_id()), "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": config["byte_fallback"], "ignore_merges": False,
                 "vocab": vocab, "merges": merges}
        normalizer = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
        pre_tokenizer = None
        decoder = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                    {"type": "ByteFallback"}, {"type": "Fuse"},
                                                    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    else:
        model = {"type": "Unigram", "unk_id": sp.unk_id(), "vocab": [[p, sp.get_score(i)] for i, p in enumerate(pieces)],
                 "byte_fallback": config["byte_fallback"]}
        normalizers = []
        charsmap = precompiled_charsmap(model_bytes)
        if charsmap:
            normalizers.append({"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")})
        if config["remove_extra_whitespaces"]:
            normalizers.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
        normalizer = {"type": "Sequence", "normalizers": normalizers} if normalizers else None
        metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
        pre_tokenizer = ({"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, metaspace]}
                         if config["remove_extra_whitespaces"] else metaspace)
        decoder = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    bos = sp.id_to_piece(sp.bos_id())
    post = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [sp.bos_id()], "tokens": [bos]}}}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer, "post_processor": post, "decoder": decoder, "model": model}


def main():
    out, seed = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    words = ("the quick brown fox jumps over a lazy dog while reprogramming frozen models with soft prompts "
             "tokens encoder decoder attention layers heads values keys queries café naïve über résumé "
             "東京 日本語 中文 한국어 Ελληνικά русский עברית العربية हिन्दी 😀 🚀").split()
    lines = []
    for i in range(4000):
        s = " ".join(rng.choice(words) for _ in range(rng.randint(2, 14)))
        if i % 5 == 0:
            s += " " + str(rng.randint(0, 10 ** 6))
        if i % 9 == 0:
            s = s.capitalize() + rng.choice(["!", "?", ".", ",", ";"])
        lines.append(s)
    corpus = os.path.join(out, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    configs = {
        "bpe_llama": dict(model_type="bpe", normalization_rule_name="identity", byte_fallback=True, remove_extra_whitespaces=False,
                          split_digits=True, allow_whitespace_only_pieces=True),
        "unigram_llama": dict(model_type="unigram", normalization_rule_name="identity", byte_fallback=True,
                              remove_extra_whitespaces=False, split_digits=True),
        "unigram_t5": dict(model_type="unigram", normalization_rule_name="nmt_nfkc", byte_fallback=False, remove_extra_whitespaces=True),
        "bpe_nfkc": dict(model_type="bpe", normalization_rule_name="nmt_nfkc", byte_fallback=False, remove_extra_whitespaces=True),
    }
    edge = ["", " ", "  ", "\t", "\n", "\r\n", "a", "hello world", " leading", "trailing ", "  two  spaces  ", "tab\there",
            "new\nline", "\t\ttabs\t", "end.  ", "😀", "😀 emoji 😀😀", "🇫🇷 flags 👨‍👩‍👧", "東京 日本語", "中文测试",
            "cafe\u0301 combining", "e\u0301\u0301", "ｆｕｌｌ　ｗｉｄｔｈ", "digits 0123456789", "3.14159 and -42", "x\u00a0nbsp",
            "zero\u200bwidth", "ℌ ℍ ① ²", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "The Quick Brown Fox!", "ALLCAPS", "<s>", "</s>", "<unk>",
            "<s>hello world</s>", "a</s>b", "x <s> y", "<s><s>", "<0x41>", "\u2581", "\u2581\u2581already\u2581escaped",
            "a\u0000b", "\u2028sep", "ﬁ ligature"]
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .,!?'-") + [
        " ", " ", "  ", "\t", "\n", "é", "e\u0301", "ü", "東", "京", "語", "한", "😀", "🚀", "\u00a0", "Ω", "ß", "ﬁ", "①"]
    strings = edge + lines[:120]
    for _ in range(200):
        strings.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))))
    for _ in range(40):
        strings.append(rng.choice([" ", "  ", "\t", "\n", ""]) + " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
                       + rng.choice([" ", "  ", "\t", "\n", ""]))
    expected = {}
    for name, config in configs.items():
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        prefix = os.path.join(folder, "tokenizer")
        spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, vocab_size=420 if config["byte_fallback"] else 200,
                                       hard_vocab_limit=False, character_coverage=0.995 if config["byte_fallback"] else 1.0,
                                       minloglevel=2, num_threads=1, seed_sentencepiece_size=100000, **config)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
        with open(prefix + ".model", "rb") as f:
            model_bytes = f.read()
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(hf_tokenizer_json(sp, model_bytes, config), f, ensure_ascii=False)
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({"bos_token": sp.id_to_piece(sp.bos_id()), "eos_token": sp.id_to_piece(sp.eos_id()), "legacy": True,
                       "add_bos_token": True}, f)
        # Hugging Face splits out its special tokens (<unk>, <s>, </s>) before the SentencePiece model sees the text.
        special = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]
        pattern = re.compile("(" + "|".join(re.escape(t) for t in special) + ")")

        def encode(s):
            ids = []
            for part in pattern.split(s):
                if part in special:
                    ids.append(sp.piece_to_id(part))
                elif part:
                    ids.extend(sp.encode(part))
            return ids

        ids = [encode(s) for s in strings]
        # Decoding odd sequences: a truncated UTF-8 character in byte pieces, and an unknown piece between words.
        odd = [[sp.piece_to_id("<0xE6>"), sp.piece_to_id("<0x97>")] if config["byte_fallback"] else [],
               encode("a") + [sp.unk_id()] + encode("b")]
        expected[name] = {"ids": ids, "decoded": [sp.decode(i) for i in ids], "pieces": sp.get_piece_size(),
                          "bos": sp.bos_id(), "eos": sp.eos_id(), "unk": sp.unk_id(),
                          "odd_ids": odd, "odd_decoded": [sp.decode(i) for i in odd]}
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"strings": strings, "expected": expected}, f, ensure_ascii=True)
    print(len(strings))


if __name__ == "__main__":
    main()
