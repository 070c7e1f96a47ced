#!/usr/bin/python3
"""Fuzzes Reprogram.Interactive's magic commands in the real dotnet-interactive kernel, through Jupyter's protocol.

The kernel is started with jupyter_client (Debian's), the packed extension is loaded with #r as a notebook loads it,
tiny session defaults are set, and then every magic command gets generated inputs: wrong types, missing values,
unknown options, huge, negative and zero numbers, NaN and infinite learning rates, long, Unicode and quoted strings,
HTML/JS injection in every string option, value sources (@), and nonexistent, empty, binary and truncated files for
every path option. Every cell must finish within a time limit, the kernel must stay alive, no error may show a stack
trace, no HTML output may carry markup that came from an input, and every 25 inputs a plain C# cell must still work.

    jupyter_fuzz.py fuzz   --feed DIR --version V [--per-directive N] [--seed S] [--json OUT]
    jupyter_fuzz.py memory --feed DIR --version V [--cells 30] [--same-names] [--json OUT]
    jupyter_fuzz.py selftest

REPROGRAM_FUZZ=nightly (1,000 per directive) or --per-directive sets the size; the default is the CI size (200 per directive).
Exit code 0 when every assertion held, 1 otherwise, 2 for bad usage or a kernel that would not start.

Huge numbers are beyond every option's documented range (10^6, 2^31 - 1, overflowing ones); values inside a range that
only make a run long (10,000 epochs, 100,000 examples) are not generated, since a time limit cannot tell them from a hang.
Several @input:/@password: sources in one command are not generated either: .NET Interactive asks for them in an HTML
form that only a front end running its scripts can answer (see ValueSourceGuard).
"""

import argparse
import html.parser
import json
import os
import queue
import random
import re
import shutil
import struct
import sys
import tempfile
import time
import zlib

from jupyter_client.manager import KernelManager

DIRECTIVES = ["#!taxonomy", "#!manipulation", "#!device", "#!reprogram", "#!soft-prompt", "#!icl", "#!cot", "#!compare"]
CI_PER_DIRECTIVE = 200
NIGHTLY_PER_DIRECTIVE = 1000
KEEPALIVE_EVERY = 25

# ----------------------------------------------------------------------------------------------------------------
# The kernel, through Jupyter's messaging protocol
# ----------------------------------------------------------------------------------------------------------------


class CellResult:
    def __init__(self, code):
        self.code = code
        self.html = []          # every text/html payload (display, update, execute_result)
        self.plain = []         # text/plain payloads
        self.errors = []        # (evalue, traceback lines)
        self.stderr = []
        self.stdout = []
        self.stdin_requests = 0
        self.timed_out = False
        self.died = False
        self.seconds = 0.0

    @property
    def failed(self):
        return bool(self.errors)

    def error_text(self):
        return "\n".join([e for e, _ in self.errors] + [line for _, tb in self.errors for line in tb] + self.stderr)


class Kernel:
    """One dotnet-interactive kernel (.net-csharp) started by jupyter_client, with the extension loaded."""

    def __init__(self, tool, feed, version, work, defaults_cell):
        self.tool, self.feed, self.version, self.work, self.defaults_cell = tool, feed, version, work, defaults_cell
        self.spec_dir = os.path.join(work, "jupyter")
        kernel_dir = os.path.join(self.spec_dir, "kernels", ".net-csharp")
        os.makedirs(kernel_dir, exist_ok=True)
        with open(os.path.join(kernel_dir, "kernel.json"), "w") as f:
            json.dump({"argv": [tool, "jupyter", "--default-kernel", "csharp", "--http-local-only", "{connection_file}"],
                       "display_name": ".NET (C#)", "language": "C#"}, f)
        self.km = None
        self.kc = None
        self.starts = 0

    def start(self):
        os.environ["JUPYTER_PATH"] = self.spec_dir
        self.km = KernelManager(kernel_name=".net-csharp")
        # The kernel's own process group, so that a stuck kernel can be ended with everything it started.
        self.km.start_kernel(cwd=self.work, start_new_session=True)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=180)
        self.starts += 1
        load = self.run(f'#i "nuget: {self.feed}"\n#r "nuget: Reprogram.Interactive, {self.version}"', timeout=300)
        if load.failed or load.timed_out or not any("Reprogram.Interactive</b> is loaded" in h for h in load.html):
            raise RuntimeError("the extension did not load:\n" + load.error_text() + "\n".join(h[:300] for h in load.html))
        setup = self.run(self.defaults_cell, timeout=120)
        if setup.failed or setup.timed_out:
            raise RuntimeError("the session defaults cell failed:\n" + setup.error_text())

    def pid(self):
        try:
            return self.km.provisioner.process.pid
        except AttributeError:
            return None

    def rss_mb(self):
        pid = self.pid()
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except (OSError, TypeError):
            pass
        return float("nan")

    def alive(self):
        try:
            return self.km.is_alive()
        except Exception:
            return False

    def stop(self):
        pid = self.pid()
        try:
            if self.kc:
                self.kc.stop_channels()
            if self.km:
                self.km.shutdown_kernel(now=True)
        except Exception:
            pass
        if pid:
            try:
                os.killpg(pid, 9)
            except OSError:
                pass

    def restart(self):
        self.stop()
        self.start()

    def run(self, code, timeout=60.0, stdin_answer=None):
        """Runs a cell; collects its outputs until the kernel is idle again, answers input requests, times out."""
        result = CellResult(code)
        start = time.time()
        msg_id = self.kc.execute(code, allow_stdin=True)
        while True:
            left = timeout - (time.time() - start)
            if left <= 0:
                result.timed_out = True
                break
            try:
                msg = self.kc.get_iopub_msg(timeout=min(1.0, left))
            except queue.Empty:
                self._answer_stdin(result, stdin_answer)
                if not self.alive():
                    result.died = True
                    break
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind in ("display_data", "update_display_data", "execute_result"):
                data = content.get("data", {})
                if "text/html" in data:
                    result.html.append(data["text/html"])
                if "text/plain" in data:
                    result.plain.append(data["text/plain"])
            elif kind == "error":
                result.errors.append((content.get("evalue", ""), content.get("traceback", [])))
            elif kind == "stream":
                (result.stderr if content.get("name") == "stderr" else result.stdout).append(content.get("text", ""))
            self._answer_stdin(result, stdin_answer)
        result.seconds = time.time() - start
        if not result.died and not self.alive():
            result.died = True
        return result

    def _answer_stdin(self, result, answer):
        try:
            while True:
                self.kc.get_stdin_msg(timeout=0.001)
                result.stdin_requests += 1
                self.kc.input(answer if answer is not None else "")
        except queue.Empty:
            pass


# ----------------------------------------------------------------------------------------------------------------
# What a user must never see: stack traces, and markup or scripts that came from an input
# ----------------------------------------------------------------------------------------------------------------

TRACE_PATTERNS = [
    re.compile(r"(^|\n)\s*at [\w.`<>\[\]+|]+(\.[\w`<>\[\]|]+)*\("),                      # "   at Namespace.Type.Method("
    re.compile(r"--- End of (inner exception )?stack trace"),
    re.compile(r"\b(System|Microsoft|TorchSharp|Reprogram|FSharp|Plotly)(\.\w+)*\.\w*Exception\b"),
    re.compile(r"Unhandled exception", re.IGNORECASE),
    re.compile(r"\bin [/\\][^\s:]+\.cs:line \d+"),
]

# .NET Interactive's Jupyter front end prints the diagnostics of a refused command as the array's type name on stderr;
# it is its own output, shown after every magic command refused by validation (and every failed @ lookup), counted apart.
DNI_DIAGNOSTIC_DUMP = "Microsoft.CodeAnalysis.Diagnostic[]"


# Reprogram.Interactive's last-resort message for an exception no handler expected (DirectiveErrors.Marker): a defect.
UNEXPECTED = "stopped on an unexpected error"


def find_trace(result):
    text = "\n".join([e for e, _ in result.errors] + [line for _, tb in result.errors for line in tb] + result.stderr)
    text = text.replace(DNI_DIAGNOSTIC_DUMP, "")
    if UNEXPECTED in text:
        i = text.index(UNEXPECTED)
        return text[max(0, i - 100): i + 400]
    for pattern in TRACE_PATTERNS:
        m = pattern.search(text)
        if m:
            return text[max(0, m.start() - 200): m.end() + 300]
    return None


MARK = "fzq"   # every injected payload calls or names fzq<N>; neither our outputs nor plotly.js contain it
STRING_LITERAL = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
TAG_IN_TEXT = re.compile(r"<\s*/?\s*(script|img|svg|a|iframe|b|style|body|math|details|object|embed|video|audio|input|form)\b", re.IGNORECASE)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster"}


class InjectionFinder(html.parser.HTMLParser):
    """Parses an HTML output as a browser would and reports markup or script that came from an injected payload."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []
        self.script = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            if MARK not in value and MARK not in name:
                continue
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...> (an event handler from input)")
            elif name in URL_ATTRIBUTES and value.strip().lower().startswith(("javascript:", "data:text/html", "vbscript:")):
                self.found.append(f"<{tag} {name}=\"{value[:60]}\"> (a script URL from input)")
            elif name.startswith("data-" + MARK):
                self.found.append(f"<{tag} {name}> (markup from input)")
        if tag in ("script", "style"):
            self.script = (tag, [])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if self.script is not None and tag == self.script[0]:
            self._check_script(self.script[0], "".join(self.script[1]))
            self.script = None

    def handle_data(self, data):
        if self.script is not None:
            self.script[1].append(data)

    def close(self):
        super().close()
        if self.script is not None:
            self._check_script(self.script[0], "".join(self.script[1]))
            self.script = None

    def _check_script(self, tag, text):
        if MARK not in text:
            return
        if tag == "style":
            self.found.append("<style> with content from input")
            return
        # Data inside a string literal is data; a payload outside one is code that came from input.
        outside = STRING_LITERAL.sub('""', text)
        if MARK in outside:
            i = outside.index(MARK)
            self.found.append(f"<script> running input: ...{outside[max(0, i - 60): i + 40]}...")
            return
        # Strings that charts draw: Plotly renders titles, names, tick and hover labels as HTML.
        for literal in STRING_LITERAL.findall(text):
            if MARK not in literal:
                continue
            try:
                decoded = json.loads(literal) if literal.startswith('"') else literal[1:-1]
            except ValueError:
                decoded = literal
            if TAG_IN_TEXT.search(decoded):
                self.found.append(f"chart text with markup from input (Plotly draws it as HTML): {decoded[:120]!r}")
                return


def find_injection(result):
    found = []
    for page in result.html:
        if MARK not in page:
            continue
        finder = InjectionFinder()
        finder.feed(page)
        finder.close()
        found.extend(finder.found)
    return found


# ----------------------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------------------

class Files:
    """The files path options get: nonexistent, empty, binary, truncated, and valid ones whose content or name injects."""

    def __init__(self, root, payloads):
        self.root = os.path.join(root, "files")
        os.makedirs(self.root, exist_ok=True)
        p = payloads
        self.csv_ok = self._write("small.csv", "text,label\n" + "".join(
            f"\"{w} movie {i}\",{'good' if i % 2 else 'bad'}\n" for i, w in enumerate(["great", "awful", "fine", "poor"] * 6)))
        # Text, labels and label words with markup in them: a valid task whose records, tables and charts must escape it.
        inj_labels = [p(0).replace(",", ";").replace('"', "'"), p(1).replace(",", ";").replace('"', "'")]
        self.csv_injection = self._write("inject.csv", "text,label\n" + "".join(
            f"\"{p(i).replace(chr(34), chr(39))} text {i}\",\"{inj_labels[i % 2]}\"\n" for i in range(24)))
        self.jsonl_injection = self._write("inject.jsonl", "".join(
            json.dumps({"text": f"{p(i)} sample {i}", "label": inj_labels[i % 2]}) + "\n" for i in range(24)))
        named = p(2).replace("/", "").replace("\0", "")[:80]
        self.csv_injection_name = self._write(f"{named}.csv", open(self.csv_ok).read())
        self.empty = {ext: self._write(f"empty.{ext}", b"") for ext in ["csv", "jsonl", "tsv", "safetensors", "pt", "json", "png", "txt"]}
        rnd = random.Random(7)
        self.binary = {ext: self._write(f"binary.{ext}", bytes(rnd.randrange(256) for _ in range(4096)))
                       for ext in ["csv", "jsonl", "safetensors", "pt", "png"]}
        whole = open(self.csv_ok, "rb").read()
        self.truncated = {
            "csv": self._write("truncated.csv", whole[: len(whole) // 2] + b"\"unterminated"),
            "jsonl": self._write("truncated.jsonl", b'{"text": "a", "label": "x"}\n{"text": "b", "lab'),
            "safetensors": self._write("truncated.safetensors", struct.pack("<Q", 1000) + b'{"w": {"dtype": "F32", "shape": [4'),
            "png": self._write("truncated.png", _png(8, 8, (1, 2, 3))[:40]),
        }
        self.missing = os.path.join(self.root, "does-not-exist")
        self.empty_folder = os.path.join(self.root, "empty-folder")
        os.makedirs(self.empty_folder, exist_ok=True)
        # Checkpoint folders: empty config, binary config, config without weights.
        self.checkpoints = []
        for name, config in [("ck-empty-config", b""), ("ck-binary-config", bytes(range(256))), ("ck-no-weights", b'{"model_type": "gpt2", "n_layer": 1}')]:
            folder = os.path.join(self.root, name)
            os.makedirs(folder, exist_ok=True)
            self._write(os.path.join(name, "config.json"), config)
            self.checkpoints.append(folder)
        # An image folder whose class names inject (one sub-folder per class, small valid PNGs), and one of bad images.
        self.images_injection = os.path.join(self.root, "images-inject")
        for c, label in enumerate([p(3), p(4)]):
            folder = os.path.join(self.images_injection, label.replace("/", "")[:100])
            os.makedirs(folder, exist_ok=True)
            for i in range(6):
                with open(os.path.join(folder, f"{i}.png"), "wb") as f:
                    f.write(_png(12, 12, (40 * c + 30 * i, 100, 200 - 50 * c)))
        self.images_bad = os.path.join(self.root, "images-bad")
        for c in ["a", "b"]:
            folder = os.path.join(self.images_bad, c)
            os.makedirs(folder, exist_ok=True)
            self._write(os.path.join("images-bad", c, "0.png"), b"not a png")
            self._write(os.path.join("images-bad", c, "1.png"), b"")
        self.readonly_target = "/proc/version/x.csv"
        # Hostile safetensors: a header length far beyond the file, a header that is not JSON, offsets beyond the data,
        # an unknown dtype, and a file of the right layout whose tensors are not what --load expects.
        header = lambda h: struct.pack("<Q", len(h)) + h
        self.hostile = [
            self._write("huge-header.safetensors", struct.pack("<Q", 2 ** 62) + b"{}"),
            self._write("not-json.safetensors", header(b"<script>" + p(5).encode() + b"</script>")),
            self._write("offsets.safetensors", header(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1000000]}}') + b"\0" * 16),
            self._write("dtype.safetensors", header(b'{"w":{"dtype":"Q99","shape":[2],"data_offsets":[0,8]}}') + b"\0" * 8),
            self._write("other.safetensors", header(('{"__metadata__":{"kind":"' + p(6).replace('"', "'") + '"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}').encode()) + b"\0" * 8),
        ]
        # What warm-up cells save (--save, --save-peft) for --load to apply; until then the paths do not exist.
        self.saved_reprogram = os.path.join(self.root, "saved-reprogram.safetensors")
        self.saved_prompt = os.path.join(self.root, "saved-prompt.safetensors")
        self.saved_decoder_prompt = os.path.join(self.root, "saved-decoder-prompt.safetensors")
        self.saved_peft = os.path.join(self.root, "saved-peft")

    def _write(self, name, content):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        return path

    def valid(self, kind):
        """Paths that a run can use: data files and folders (some whose content or name injects), and outputs it can write."""
        return {
            "task": [self.csv_ok, self.csv_injection, self.jsonl_injection, self.csv_injection_name],
            "dataset": [self.images_injection],
            "save": [os.path.join(self.root, "saved.safetensors")],
            "save-folder": [os.path.join(self.root, "peft-out")],
            "load": [self.saved_reprogram, self.saved_prompt, self.saved_decoder_prompt, self.saved_peft],
            "export": [os.path.join(self.root, "run.csv"), os.path.join(self.root, "run.json")],
        }.get(kind, [])

    def inputs(self, kind):
        """Paths for an option that reads a file or folder (kind: task, image-model, text-model, dataset) or writes one (save, export)."""
        common = [self.missing, self.missing + ".csv", self.empty_folder, "", " ", "/", "/dev/null", self.root + "/../files/../files/nothing.json"]
        if kind == "task":
            return common + list(self.empty.values()) + list(self.binary.values()) + list(self.truncated.values()) + \
                [self.csv_injection, self.jsonl_injection, self.csv_injection_name, self.csv_ok]
        if kind == "dataset":
            return common + [self.images_injection, self.images_bad, self.empty["png"], self.binary["png"], self.csv_ok]
        if kind in ("image-model", "text-model"):
            return common + self.checkpoints + [self.empty["safetensors"], self.binary["safetensors"], self.truncated["safetensors"],
                                                self.empty["pt"], self.binary["pt"]]
        if kind == "load":
            # Saved runs of both kinds (so each directive also gets the other's file), and broken ones.
            return common + self.valid("load") * 3 + self.hostile + self.checkpoints + \
                [self.empty["safetensors"], self.binary["safetensors"], self.truncated["safetensors"], self.empty["pt"], self.csv_ok]
        if kind == "save-folder":
            return ["", " ", self.empty_folder, self.readonly_target, "/nonexistent-dir/x", self.csv_ok, os.path.join(self.root, "peft-out")]
        if kind in ("save", "export"):
            ext = ".safetensors" if kind == "save" else ".csv"
            return ["", " ", self.empty_folder, self.readonly_target, "/nonexistent-dir/x" + ext, self.missing + "/deeper/x" + ext,
                    os.path.join(self.root, "out" + ext), os.path.join(self.root, "out.txt"), os.path.join(self.root, "x.json")]
        raise ValueError(kind)


def _png(width, height, rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PAYLOADS = [
    "<script>{m}()</script>",
    "<img src=x onerror={m}()>",
    "\"><svg onload={m}()>",
    "'><a href=\"javascript:{m}()\">x</a>",
    "</script><script>{m}()</script>",
    "<b data-{m}=1>bold</b>",
    "<iframe src=\"javascript:{m}()\"></iframe>",
    "<details open ontoggle={m}()>",
    "<style>*{{background:url(\"javascript:{m}()\")}}</style>",
    "{{{{{m}}}}} ${{{m}}} <!-- {m} -->",
]


class Generator:
    """Seeded inputs for each magic command: a valid base, some options set to fuzz values, some structural damage."""

    def __init__(self, seed, names, files):
        self.r = random.Random(seed)
        self.names = names
        self.files = files
        self.counter = 0

    def payload(self, i=None):
        self.counter += 1
        template = PAYLOADS[(self.counter if i is None else i) % len(PAYLOADS)]
        return template.format(m=f"{MARK}{self.counter}")

    # -- value generators by kind ------------------------------------------------------------------------------
    def int_value(self, valid):
        r = self.r
        return r.choice([
            r.choice(valid), r.choice(valid), "0", "-1", str(-r.randrange(1, 10 ** 6)), "2147483647", "2147483648", "-2147483649",
            "9223372036854775808", "1000000", "1000000000", "1e3", "1.5", "two", "", "0x10", "١٢", " 3 ", "+4", "3,4", "NaN", "true", "[1]",
        ])

    def number_value(self, valid):
        r = self.r
        return r.choice([
            r.choice(valid), r.choice(valid), "NaN", "nan", "Infinity", "-Infinity", "inf", "1e308", "1e999", "-0.01", "0", "-0", "5e-324",
            "1e-320", "abc", "", "0.01.2", "1,5", "∞",
        ])

    def int_list_value(self, valid):
        r = self.r
        return r.choice([r.choice(valid), r.choice(valid), "0,1,x", "-1", "", ",,,", "100001", "1000000", "1,1,1", "0;2", "1-3", "2147483648", "0,-4", "1e2"])

    def seeds_value(self):
        r = self.r
        return r.choice(["1", "2", "0,3", "0-1", "0", "-1", "101", "0-1000", "3-1", "a-b", "1,1", "2147483647", "", "0,x", "-5--1", "0-100"])

    def enum_value(self, valid):
        r = self.r
        v = r.choice(valid)
        return r.choice([
            v, v, v, v.upper(), v + "x", "", " ", "nope", ",".join(r.sample(valid, min(2, len(valid)))), v + ",nope", self.payload(),
            "ünïcödé", "😀", "\u202e" + v, "null", "-" + v,
        ])

    def string_value(self, valid):
        r = self.r
        return r.choice([
            r.choice(valid), self.payload(), self.payload(), "x" * r.choice([1000, 10000, 100000]), "ünïcödé ✓ 中文 العربية 😀",
            "a\u0301\u200d\u202e\u2028b", "\\n\\t\\\\", "{input}{label}{rationale}{nope}", "{", "}", "{{}}", "say \"hi\"",
            "'single'", "\"", "\\\"", "%s %d %n", "$(rm -rf /)", "`touch /tmp/x`", "", " ", r.choice(valid) + " " + self.payload(),
        ])

    def regex_value(self):
        r = self.r
        return r.choice(["(\\d+)", "(", "[a-", "(a+)+$", "(?<n>x)", "no group", "(.*)", self.payload(), "((((((((((x))))))))))", "\\", ""])

    def name_value(self):
        r = self.r
        return r.choice(["run1", "_x", "1abc", "a b", "class", "x-y", self.payload(), "ünï", "a" * 600, "", "@x", "__", "System"])

    def path_value(self, kind):
        return self.r.choice(self.files.inputs(kind))

    def value(self, kind, valid):
        if kind == "int":
            return self.int_value(valid)
        if kind == "number":
            return self.number_value(valid)
        if kind == "ints":
            return self.int_list_value(valid)
        if kind == "seeds":
            return self.seeds_value()
        if kind == "enum":
            return self.enum_value(valid)
        if kind == "string":
            return self.string_value(valid)
        if kind == "regex":
            return self.regex_value()
        if kind == "name":
            return self.name_value()
        if kind.startswith("path:"):
            return self.path_value(kind[5:])
        if kind == "flag":
            return None
        raise ValueError(kind)

    # -- the commands -------------------------------------------------------------------------------------------
    def options(self, directive):
        n = self.names
        text_models = ["icl-rules", "arith-cot"]
        common_instruction = {
            "--model": ("enum", text_models + ["minilm", "ollama:tiny", "openai:gpt-4o-mini", "resnet18"]),
            "--model ": ("path:text-model", []),
            "--endpoint": ("string", ["http://127.0.0.1:9", "not a url", "ftp://x"]),
            "--api-key-env": ("string", ["REPROGRAM_FUZZ_NO_SUCH_KEY"]),
            "--task": ("enum", ["icl-rules", "addition", "sentiment", "fortunes"]),
            "--task ": ("path:task", []),
            "--queries": ("int", ["2", "3", "4"]),
            "--pool": ("int", ["4", "8"]),
            "--seeds": ("seeds", []),
            "--instruction": ("string", ["Classify:", "Answer the question."]),
            "--demo-format": ("string", ["Input: {input}\\nLabel: {label}", "{input} => {label}"]),
            "--separator": ("string", ["\\n\\n", " | "]),
            "--query-format": ("string", ["Input: {input}\\nLabel:", "{input} =>"]),
            "--strict": ("regex", []),
            "--flexible": ("regex", []),
            "--max-tokens": ("int", ["4", "8"]),
            "--batch": ("int", ["2", "8"]),
            "--device": ("enum", ["cpu", "auto", "cuda", "cuda:7"]),
            "--precision": ("enum", ["fp32", "bf16"]),
            "--export": ("path:export", []),
            "--name": ("name", []),
            "--chat": ("enum", ["off", "template", "chatml", "qwen2", "llama3"]),
            "--show-prompt": ("flag", []),
            "--text-column": ("string", ["text", "body"]),
            "--label-column": ("string", ["label", "y"]),
            "--label-words": ("string", ["bad=terrible,good=great", "x=y"]),
            "--test": ("int", ["2", "3"]),
        }
        if directive == "#!taxonomy":
            dims = n["dimensions"]
            return {**{f"--{d}": ("enum", v) for d, v in dims.items()},
                    "--alignment-kind": ("enum", dims["alignment"]),
                    "--search": ("string", ["prompt", "2023", "Chen"]), "--group-by": ("enum", n["columns"]), "--sort-by": ("enum", n["columns"]),
                    "--descending": ("flag", []), "--no-chart": ("flag", [])}
        if directive == "#!manipulation":
            dims = n["dimensions"]
            return {"--name": ("name", []), "--format": ("enum", dims["format"]), "--location": ("enum", dims["location"]),
                    "--operator": ("enum", dims["operator"]), "--alignment": ("enum", dims["alignment"]), "--alignment-kind": ("enum", dims["alignment"]),
                    "--description": ("string", ["a learned frame"]), "--paradigm": ("enum", dims["paradigm"])}
        if directive == "#!device":
            return {"--device": ("enum", ["cpu", "auto", "cuda", "cuda:1", "cpu:0"]), "--threads": ("int", ["1", "2"])}
        if directive == "#!reprogram":
            return {
                "--model": ("enum", ["fashion-cnn", "resnet18", "minilm", "icl-rules"]), "--model ": ("path:image-model", []),
                "--dataset": ("enum", ["digits", "fashion-mnist"]), "--dataset ": ("path:dataset", []),
                "--train": ("int", ["8", "16"]), "--test": ("int", ["8", "16"]),
                "--manipulation": ("enum", n["image_manipulations"]), "--pad-width": ("int", ["2", "4"]), "--patch-size": ("int", ["4", "8"]),
                "--alignment": ("enum", n["image_alignments"]), "--image-size": ("int", ["28", "32"]), "--epochs": ("int", ["1", "2"]),
                "--batch": ("int", ["8", "16"]), "--lr": ("number", ["0.01", "0.1"]), "--schedule": ("enum", ["constant", "multistep", "cosine"]),
                "--seed": ("int", ["0", "1", "7"]), "--device": ("enum", ["cpu", "auto", "cuda"]), "--baseline": ("flag", []),
                "--feature-channels-as-labels": ("flag", []), "--recipe": ("enum", ["ilm-vp", "blm"]), "--save": ("path:save", []), "--name": ("name", []),
                "--task": ("enum", ["digits", "fashion-mnist"]), "--task ": ("path:dataset", []), "--seeds": ("seeds", []),
                "--export": ("path:export", []), "--load": ("path:load", []),
            }
        if directive == "#!soft-prompt":
            return {
                "--method": ("enum", ["soft", "prefix", "p-tuning-v2", "vpt-deep", "deep"]),
                "--model": ("enum", ["minilm", "icl-rules", "arith-cot", "resnet18"]), "--model ": ("path:text-model", []),
                "--task": ("enum", ["sentiment", "fortunes", "addition"]), "--task ": ("path:task", []),
                "--train": ("int", ["8", "12"]), "--test": ("int", ["4", "8"]), "--tokens": ("int", ["1", "2", "4"]),
                "--init": ("enum", ["random", "vocab", "text"]), "--init-text": ("string", ["good bad", "the"]),
                "--reparameterise": ("int", ["8", "16"]), "--epochs": ("int", ["1"]), "--batch": ("int", ["4", "8"]),
                "--lr": ("number", ["0.01", "0.3"]), "--max-length": ("int", ["16", "24"]), "--seed": ("int", ["0", "3"]),
                "--device": ("enum", ["cpu", "auto", "cuda"]), "--save": ("path:save", []), "--name": ("name", []),
                "--seeds": ("seeds", []), "--export": ("path:export", []), "--save-peft": ("path:save-folder", []), "--load": ("path:load", []),
                "--text-column": ("string", ["text"]), "--label-column": ("string", ["label"]), "--label-words": ("string", ["bad=terrible,good=great"]),
            }
        if directive == "#!icl":
            return {**common_instruction,
                    "--shots": ("ints", ["0,1", "1", "0,2"]), "--selection": ("enum", ["random", "balanced", "similar"]),
                    "--order": ("enum", ["as-selected", "shuffled", "reversed"]), "--calibration": ("enum", ["none", "contextual", "both"]),
                    "--scoring": ("enum", ["likelihood", "generation"]), "--no-cache": ("flag", [])}
        if directive == "#!cot":
            return {**common_instruction,
                    "--mode": ("enum", ["direct", "zero-shot", "zero-shot-one-stage", "few-shot"]), "--shots": ("int", ["0", "1", "2"]),
                    "--selection": ("enum", ["random", "balanced"]), "--trigger": ("string", [":", " Let's think step by step."]),
                    "--samples": ("int", ["1", "2"]), "--temperature": ("number", ["0.7", "0", "1.5"]), "--top-k": ("int", ["1", "5"])}
        if directive == "#!compare":
            return {
                "--model": ("enum", ["rule-family", "icl-rules", "minilm", "fashion-cnn"]), "--model ": ("path:text-model", []),
                "--task": ("enum", ["rule-held-out", "icl-rules", "sentiment", "digits"]), "--task ": ("path:task", []),
                "--manipulations": ("enum", n["manipulations"]), "--alignments": ("enum", n["alignments"]),
                "--methods": ("enum", ["icl+verbalizer", "none+linear", "soft-prompt+verbalizer", "icl+ilm"]),
                "--vary": ("enum", ["format", "location", "operator", "alignment"]), "--base": ("enum", ["soft-prompt+verbalizer", "icl+verbalizer"]),
                "--examples": ("ints", ["2", "2,4"]), "--seeds": ("seeds", []), "--test": ("int", ["4", "6"]), "--epochs": ("int", ["1", "2"]),
                "--batch": ("int", ["4", "8"]), "--lr": ("number", ["0.03"]), "--tokens": ("int", ["2", "4"]),
                "--selection": ("enum", ["random", "balanced", "similar"]), "--device": ("enum", ["cpu", "auto"]),
                "--export": ("path:export", []), "--name": ("name", []),
                "--text-column": ("string", ["text"]), "--label-column": ("string", ["label"]), "--label-words": ("string", ["bad=terrible,good=great"]),
            }
        raise ValueError(directive)

    def base(self, directive):
        if directive == "#!manipulation":
            return ["#!manipulation", "fuzz_m", "--format", "learnable", "--location", "input", "--operator", "additive", "--alignment", "linear"]
        return [directive]

    def quote(self, value):
        """A value as the user would type it: bare when it is one plain word, otherwise a quoted JSON string."""
        if value == "":
            return '""'
        if re.fullmatch(r"[^\s\"{\[@-][^\s]*", value) and "\n" not in value:
            return value
        return json.dumps(value, ensure_ascii=self.r.random() < 0.3)

    def make(self, directive):
        """One input line (sometimes with a second line) for a directive."""
        r = self.r
        options = self.options(directive)
        tokens = self.base(directive)
        style = r.random()
        stdin_answer = None
        if directive in ("#!reprogram", "#!soft-prompt") and style < 0.06:
            tokens += ["--load", self.quote(r.choice(self.files.inputs("load")))]
            extra = r.random()
            if extra < 0.3:
                tokens += ["--task", self.quote(r.choice(self.files.valid("task") + self.files.valid("dataset") + self.files.inputs("task")
                                                          + ["digits", "sentiment", "fortunes", "nope"]))]
            elif extra < 0.45:
                tokens += [r.choice(["--test", "--epochs", "--lr"]), self.quote(self.int_value(["2", "4"]))]
            elif extra < 0.55:
                tokens += ["--export", self.quote(r.choice(self.files.inputs("export")))]
            if r.random() < 0.3:
                tokens += ["--name", self.quote(self.name_value())]
        elif style < 0.08:
            # A valid command with markup in every string option (the run must show it escaped).
            for name, (kind, valid) in options.items():
                if kind in ("string",) and name not in ("--endpoint", "--api-key-env", "--label-words") and r.random() < 0.5:
                    tokens += [name.strip(), self.quote(self.payload())]
            if directive in ("#!icl", "#!cot", "#!soft-prompt", "#!compare") and r.random() < 0.5:
                tokens += ["--task", self.quote(r.choice([self.files.csv_injection, self.files.jsonl_injection, self.files.csv_injection_name]))]
                if directive in ("#!icl", "#!cot"):
                    tokens += ["--queries", "3", "--pool", "4"]
            if directive == "#!reprogram":
                tokens += ["--dataset", self.quote(self.files.images_injection), "--model", "fashion-cnn"]
        elif style < 0.35:
            # Valid values only: real runs, whose results must show whatever they echo escaped.
            for name in r.sample(list(options), min(r.choice([1, 1, 2, 3]), len(options))):
                kind, valid = options[name]
                if kind == "flag":
                    tokens.append(name.strip())
                elif kind.startswith("path:"):
                    choices = self.files.valid(kind[5:])
                    if choices:
                        tokens += [name.strip(), self.quote(r.choice(choices))]
                elif valid:
                    tokens += [name.strip(), self.quote(r.choice(valid))]
        else:
            count = r.choice([1, 1, 2, 2, 3, 4])
            for name in r.sample(list(options), min(count, len(options))):
                kind, valid = options[name]
                value = self.value(kind, valid)
                if kind == "flag":
                    tokens.append(name.strip())
                    if r.random() < 0.15:
                        tokens.append(r.choice(["yes", "false", "1"]))
                    continue
                tokens += [name.strip(), self.quote(value)]
            damage = r.random()
            if damage < 0.07:
                tokens += [r.choice(["--nope", "--MODEL", "---model", "-m", "--", "--model=x", "--" + "z" * 300]), r.choice(["1", "x", ""])]
            elif damage < 0.12:
                name = r.choice(list(options)).strip()
                tokens.append(name)                     # a missing value at the end
            elif damage < 0.16:
                name = r.choice(list(options)).strip()
                tokens += [name, "a", name, "b"]        # the same option twice
            elif damage < 0.20:
                # Value sources: a bare @ (once or twice), a variable that does not exist, an input the harness answers.
                source = r.choice(["@", "@ --name @", "@nothingHere", "@csharp:nothingHere", "@input:value", "@password:secret", "@:", "@@"])
                name = r.choice([n for n, (k, _) in options.items() if k != "flag"]).strip()
                tokens += [name, source]
                if "input" in source or "password" in source:
                    stdin_answer = r.choice(["", self.payload(), "1", "x" * 5000])
            elif damage < 0.23:
                tokens += [r.choice(["garbage", "\"unterminated", "{not json", "[1,", "}", "\\", "#!", "😀"])]
            elif damage < 0.25:
                tokens = tokens + ["\n" + r.choice(["1+1", "display(\"after\")", "#!taxonomy --no-chart", "x y z"])]
        return " ".join(tokens), stdin_answer


# ----------------------------------------------------------------------------------------------------------------
# The session defaults, the warm-up and the runs
# ----------------------------------------------------------------------------------------------------------------

DEFAULTS_CELL = """// parameters: tiny session defaults, so valid runs take seconds
ReprogramOptions.SessionDefaults = new ReprogramOptions { Model = "fashion-cnn", Dataset = "digits", TrainCount = 16, TestCount = 16, Epochs = 1, BatchSize = 16, ImageSize = 28 };
PromptTuningOptions.SessionDefaults = new PromptTuningOptions { Task = "sentiment", TrainCount = 8, TestCount = 8, Epochs = 1, BatchSize = 8, Tokens = 2, MaxLength = 16 };
InContextOptions.SessionDefaults = new InContextOptions { Queries = 4, Pool = 4, Seeds = [0], Shots = [0, 1] };
ChainOfThoughtOptions.SessionDefaults = new ChainOfThoughtOptions { Queries = 2, Seeds = [0], Modes = ["direct", "zero-shot"] };
ComparisonOptions.SessionDefaults = new ComparisonOptions { Methods = ["icl+verbalizer", "soft-prompt+verbalizer"], Examples = [2], Seeds = [0], TestExamples = 4, Epochs = 1, BatchSize = 4, Options = new MethodOptions { Tokens = 2 } };
"""

NAMES_CELL = """System.Text.Json.JsonSerializer.Serialize(new {
    dimensions = new[] { Dimension.Paradigm, Dimension.Format, Dimension.Location, Dimension.Operator, Dimension.Alignment, Dimension.Modality }
        .ToDictionary(d => d.ToString().ToLowerInvariant(), d => TaxonomyNames.CompletionValues(d)),
    columns = Enum.GetNames<CatalogColumn>().Select(n => n.ToLowerInvariant()),
    image_manipulations = ReprogramOptions.Manipulations,
    image_alignments = ReprogramOptions.Alignments,
    manipulations = Registries.Manipulations.Names,
    alignments = Registries.Alignments.Names,
})"""

# First use trains the zoo models and the source classifier (cached on disk afterwards): done once, outside the fuzz.
WARMUP_CELLS = ["#!reprogram --name warm1", "#!soft-prompt --name warm2", "#!soft-prompt --model icl-rules --name warm3",
                "#!icl --name warm4", "#!cot --name warm5", "#!compare --name warm6", "#!icl --selection similar --name warm7"]

KEEPALIVE_CELL = "Math.Max(6, 7) * 6"


def save_cells(files):
    """Warm-up cells that save a learned manipulation or prompt, so that --load inputs include files that apply."""
    q = json.dumps
    return [f"#!reprogram --save {q(files.saved_reprogram)} --name warm8",
            f"#!soft-prompt --save {q(files.saved_prompt)} --name warm9",
            f"#!soft-prompt --model icl-rules --save {q(files.saved_decoder_prompt)} --save-peft {q(files.saved_peft)} --name warm10"]


def names_from(kernel):
    result = kernel.run(NAMES_CELL, timeout=60)
    text = "".join(result.plain)
    m = re.search(r"\{.*\}", text, re.S)
    if result.failed or not m:
        raise RuntimeError("could not read the registries' names: " + result.error_text() + text[:500])
    import html as html_module
    return json.loads(html_module.unescape(m.group(0)))


def tool_path():
    tool = os.path.join(os.path.expanduser("~"), ".dotnet", "tools", "dotnet-interactive")
    if not os.path.exists(tool):
        raise RuntimeError("dotnet-interactive is missing: .ci/setup installs it as a global tool")
    return tool


class Row:
    def __init__(self, directive):
        self.directive = directive
        self.inputs = self.ok = self.clear = self.deaths = self.hangs = self.traces = self.injections = self.stdin = self.dumps = 0
        self.seconds = 0.0
        self.slowest = (0.0, "")


def fuzz(args):
    per = args.per_directive or (NIGHTLY_PER_DIRECTIVE if os.environ.get("REPROGRAM_FUZZ", "").lower() == "nightly" else CI_PER_DIRECTIVE)
    work = tempfile.mkdtemp(prefix="reprogram-fuzz-")
    kernel = Kernel(tool_path(), args.feed, args.version, work, DEFAULTS_CELL)
    failures = []
    rows = {d: Row(d) for d in DIRECTIVES}
    keepalive_failures = 0
    started = time.time()
    try:
        kernel.start()
        names = names_from(kernel)
        gen = Generator(args.seed, names, None)
        gen.files = Files(work, gen.payload)
        for cell in WARMUP_CELLS + save_cells(gen.files):
            warm = kernel.run(cell, timeout=args.warmup_timeout)
            if warm.timed_out or warm.died or warm.failed:
                failures.append(f"warm-up cell failed: {cell}: {'timed out' if warm.timed_out else 'died' if warm.died else warm.error_text()[:500]}")
        print(f"setup (kernel, #r, defaults, warm-up): {time.time() - started:.0f} s", flush=True)
        count = 0
        for directive in DIRECTIVES:
            row = rows[directive]
            for _ in range(per):
                code, stdin_answer = gen.make(directive)
                result = kernel.run(code, timeout=args.cell_timeout, stdin_answer=stdin_answer)
                count += 1
                row.inputs += 1
                row.seconds += result.seconds
                row.stdin += result.stdin_requests
                if result.seconds > row.slowest[0]:
                    row.slowest = (result.seconds, code[:160])
                if DNI_DIAGNOSTIC_DUMP in "".join(result.stderr):
                    row.dumps += 1
                problem = None
                if result.died:
                    row.deaths += 1
                    problem = "kernel died"
                elif result.timed_out:
                    row.hangs += 1
                    problem = f"no answer within {args.cell_timeout:.0f} s"
                else:
                    trace = find_trace(result)
                    injected = find_injection(result)
                    if trace:
                        row.traces += 1
                        problem = "stack trace shown: " + trace[:700]
                    if injected:
                        row.injections += 1
                        problem = (problem + "; " if problem else "") + "injection: " + "; ".join(injected[:3])
                    if not trace and not injected:
                        if result.failed:
                            row.clear += 1
                        else:
                            row.ok += 1
                if problem:
                    failures.append(f"{directive} input {row.inputs}: {problem}\n    cell: {code[:600]!r}")
                    print(f"FAIL {failures[-1]}", flush=True)
                if result.died or result.timed_out:
                    kernel.restart()
                if count % KEEPALIVE_EVERY == 0:
                    alive = kernel.run(KEEPALIVE_CELL, timeout=60)
                    if alive.failed or alive.timed_out or not any("42" in p for p in alive.plain + alive.html):
                        keepalive_failures += 1
                        failures.append(f"after input {count} ({directive}) a normal cell did not work: "
                                        f"{'timed out' if alive.timed_out else alive.error_text()[:300]}")
                        kernel.restart()
                if args.verbose:
                    print(f"{directive:15} {result.seconds:6.2f}s {'ERR' if result.failed else 'ok '} {code[:120]!r}", flush=True)
            if directive == "#!device":
                kernel.run("#!device --device auto --threads 2", timeout=60)
            print(f"{directive}: {row.inputs} inputs in {row.seconds:.0f} s", flush=True)
    finally:
        kernel.stop()
    total = time.time() - started
    lines = summary_table(rows, per, args.seed, kernel.starts, keepalive_failures, total)
    print("\n".join(lines), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"per_directive": per, "seed": args.seed, "seconds": total, "kernel_starts": kernel.starts,
                       "keepalive_failures": keepalive_failures, "failures": failures,
                       "rows": [vars(r) for r in rows.values()]}, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"\n{len(failures)} failures:", flush=True)
        for f in failures[:200]:
            print(" - " + f, flush=True)
        return 1
    return 0


def summary_table(rows, per, seed, starts, keepalive_failures, seconds):
    header = f"{'directive':15} {'inputs':>6} {'ok':>5} {'clear errors':>12} {'deaths':>6} {'hangs':>5} {'traces':>6} {'injections':>10} {'@input':>6} {'seconds':>7}  slowest"
    lines = [f"fuzz summary: {per} inputs per directive, seed {seed}, {seconds:.0f} s in all, {starts} kernel start(s), "
             f"{keepalive_failures} failed keep-alive cells (one every {KEEPALIVE_EVERY} inputs)", header, "-" * len(header)]
    total = Row("total")
    for r in rows.values():
        lines.append(f"{r.directive:15} {r.inputs:6} {r.ok:5} {r.clear:12} {r.deaths:6} {r.hangs:5} {r.traces:6} {r.injections:10} {r.stdin:6} "
                     f"{r.seconds:7.0f}  {r.slowest[0]:.1f} s")
        for k in ("inputs", "ok", "clear", "deaths", "hangs", "traces", "injections", "stdin", "seconds", "dumps"):
            setattr(total, k, getattr(total, k) + getattr(r, k))
    lines.append("-" * len(header))
    lines.append(f"{'total':15} {total.inputs:6} {total.ok:5} {total.clear:12} {total.deaths:6} {total.hangs:5} {total.traces:6} {total.injections:10} "
                 f"{total.stdin:6} {total.seconds:7.0f}")
    lines.append(f"(.NET Interactive's '{DNI_DIAGNOSTIC_DUMP}' line after a refused command: {total.dumps} cells; its own output, not counted as a trace)")
    return lines


# ----------------------------------------------------------------------------------------------------------------
# Long sessions: resident memory over 30 experiment cells of every kind
# ----------------------------------------------------------------------------------------------------------------

MEMORY_CELLS = [
    # Every experiment command, on the real frozen models (the Fashion-MNIST CNN, loaded per run; the ImageNet ResNet-18,
    # all-MiniLM-L6-v2, the zoo decoders and MiniLM for KATE, shared), tiny data; results exported, saved runs loaded.
    "#!reprogram --train 64 --test 64 --export {out}/r{i}.json --name r{i}",
    "#!soft-prompt --train 32 --test 32 --export {out}/s{i}.json --name s{i}",
    "#!icl --queries 16 --pool 16 --shots 0,1,2 --name i{i}",
    "#!cot --queries 8 --export {out}/c{i}.csv --name c{i}",
    "#!compare --test 8 --name k{i}",
    "#!reprogram --model resnet18 --image-size 32 --manipulation watermark --baseline --name rb{i}",
    "#!soft-prompt --method prefix --model icl-rules --name sp{i}",
    "#!icl --selection similar --calibration both --name is{i}",
    "#!cot --mode direct,zero-shot --samples 2 --name cs{i}",
    "#!soft-prompt --method vpt-deep --name sd{i}",
    "#!soft-prompt --load {saved_prompt} --name l{i}",
    "#!reprogram --load {saved_reprogram} --name lr{i}",
]

GC_CELL = 'GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); (GC.GetTotalMemory(true) / 1048576.0).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)'


def managed_mb(kernel):
    """The kernel's managed heap after a full collection (a C# cell, so it is read only where it does not disturb the curve)."""
    result = kernel.run(GC_CELL, timeout=120)
    m = re.search(r"(\d+\.\d)", "".join(result.plain + result.html))
    return float(m.group(1)) if m and not result.failed else float("nan")


def memory(args):
    work = tempfile.mkdtemp(prefix="reprogram-memory-")
    kernel = Kernel(tool_path(), args.feed, args.version, work, DEFAULTS_CELL)
    files = Files(work, Generator(args.seed, {}, None).payload)
    curve = []
    managed = {}
    failures = []
    started = time.time()
    try:
        kernel.start()
        # Every kind of cell once before counting, so that first uses (a model loaded into the session, its caches) are
        # not counted as growth: the curve then shows what later cells add.
        first_uses = [template.format(i=f"w{j}", out=work, saved_prompt=files.saved_prompt, saved_reprogram=files.saved_reprogram)
                      for j, template in enumerate(MEMORY_CELLS)]
        for cell in WARMUP_CELLS + save_cells(files) + first_uses:
            warm = kernel.run(cell, timeout=args.warmup_timeout)
            if warm.failed or warm.timed_out or warm.died:
                failures.append(f"warm-up cell {cell!r}: {'timed out' if warm.timed_out else 'died' if warm.died else warm.error_text()[:400]}")
        for i in range(1, args.cells + 1):
            code = MEMORY_CELLS[(i - 1) % len(MEMORY_CELLS)].format(
                i="" if args.same_names else i, out=work, saved_prompt=files.saved_prompt, saved_reprogram=files.saved_reprogram)
            result = kernel.run(code, timeout=args.cell_timeout)
            if result.failed or result.timed_out or result.died:
                failures.append(f"cell {i} {code!r}: {'timed out' if result.timed_out else 'died' if result.died else result.error_text()[:400]}")
                if result.died or result.timed_out:
                    break
            rss = kernel.rss_mb()
            curve.append((i, code, rss, result.seconds))
            print(f"cell {i:2}  RSS {rss:8.1f} MB  {result.seconds:5.1f} s  {code.replace(work, '<work>')}", flush=True)
            if i in (5, args.cells):
                # After the RSS reading: what of it is live managed memory (results held, the C# kernel's submissions).
                managed[i] = managed_mb(kernel)
    finally:
        kernel.stop()
    shutil.rmtree(work, ignore_errors=True)
    growth = None
    if len(curve) >= args.cells and args.cells >= 5:
        growth = curve[args.cells - 1][2] - curve[4][2]
        print(f"resident memory after cell {args.cells} minus after cell 5: {growth:+.1f} MB (limit {args.limit_mb} MB); "
              f"managed heap after a full collection: {managed.get(5, float('nan')):.1f} MB after cell 5, "
              f"{managed.get(args.cells, float('nan')):.1f} MB after cell {args.cells}; {time.time() - started:.0f} s in all", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"curve": curve, "growth_mb": growth, "managed_mb": managed, "failures": failures, "seconds": time.time() - started}, f, indent=1)
    for f in failures:
        print(" - " + f, flush=True)
    if failures or growth is None or growth >= args.limit_mb:
        return 1
    return 0


def selftest():
    """The detectors on known outputs: each must find what it is for and nothing in escaped output."""
    def cell(html=(), errors=(), stderr=()):
        r = CellResult("")
        r.html, r.errors, r.stderr = list(html), list(errors), list(stderr)
        return r
    injected = [
        "<div><script>fzq1()</script></div>",
        "<td><img src=x onerror=fzq2()></td>",
        "<a href=\"javascript:fzq3()\">x</a>",
        "<script>var fig = {\"layout\":{\"title\":{\"text\":\"</script><script>fzq4()</script>\"}}};</script>",
        "<script>var fig = {\"layout\":{\"title\":{\"text\":\"<img src=x onerror=fzq5()>\"}}};</script>",
        "<script>var fig = {\"data\":[{\"x\":[\"\\u003ca href=javascript:fzq6()\\u003ex\"]}]};</script>",
        "<b data-fzq7=1>bold</b>",
        "<style>*{background:url(javascript:fzq8())}</style>",
        "<details open ontoggle=fzq9()>",
    ]
    escaped = [
        "<td>&lt;script&gt;fzq11()&lt;/script&gt;</td>",
        "<pre>&lt;img src=x onerror=fzq12()&gt;</pre>",
        "<script>var fig = {\"layout\":{\"title\":{\"text\":\"\\u003cimg src=x onerror=fzq13()\\u003e\"}}};</script>".replace("\\u003cimg", "&lt;img").replace("\\u003e\"", "&gt;\""),
        "<button onclick=\"var d=this.parentNode;\">next</button><td>fzq14</td>",
        "<script>var fig = {\"layout\":{\"title\":{\"text\":\"&lt;/script&gt;&lt;script&gt;fzq15()\"}}};</script>",
    ]
    traces = ["   at Reprogram.Experiments.Experiment.Run(ExperimentSpec spec) in /src/Experiment.cs:line 40",
              "System.InvalidOperationException: Sequence contains no elements",
              "#!icl stopped on an unexpected error (NullReferenceException: x). This is a bug"]
    clear = ["'nope' is not a model. Allowed: icl-rules, arith-cot.", "(1,1): error DNI211: --threads: 'x' is not a positive whole number.",
             "Could not save to /x: Access to the path is denied; at most 10 at a time"]
    problems = []
    for page in injected:
        if not find_injection(cell(html=[page])):
            problems.append("missed injection: " + page)
    for page in escaped:
        if find_injection(cell(html=[page])):
            problems.append("false injection: " + page + " -> " + str(find_injection(cell(html=[page]))))
    for text in traces:
        if not find_trace(cell(errors=[(text, [text])])):
            problems.append("missed trace: " + text)
    for text in clear:
        if find_trace(cell(errors=[(text, [text])], stderr=["\n" + DNI_DIAGNOSTIC_DUMP + "\n"])):
            problems.append("false trace: " + text)
    for p in problems:
        print(p)
    print(f"selftest: {len(injected)} injections, {len(escaped)} escaped outputs, {len(traces)} traces, {len(clear)} clear errors; "
          f"{len(problems)} problems", flush=True)
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["fuzz", "memory", "selftest"])
    parser.add_argument("--feed", help="the folder the packed Reprogram packages are in")
    parser.add_argument("--version", help="the packed version to #r")
    parser.add_argument("--per-directive", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20260416)
    parser.add_argument("--cell-timeout", type=float, default=90.0)
    parser.add_argument("--warmup-timeout", type=float, default=600.0)
    parser.add_argument("--cells", type=int, default=30)
    parser.add_argument("--limit-mb", type=float, default=100.0)
    parser.add_argument("--same-names", action="store_true", help="memory: every cell of a kind keeps its result in the same variable")
    parser.add_argument("--json")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.mode == "selftest":
        return selftest()
    if not args.feed or not args.version:
        parser.error("--feed and --version are needed to start the kernel")
    try:
        return fuzz(args) if args.mode == "fuzz" else memory(args)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
