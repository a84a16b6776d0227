#!/usr/bin/python3
"""Reference training run: a tiny character-level GPT on Python standard-library source,
captured with fpscope.capture into the bundled dump (examples/data/tiny-gpt/).

    /usr/bin/python3 examples/train_tiny_gpt.py                 # regenerates the bundled dump
    /usr/bin/python3 examples/train_tiny_gpt.py --steps 50 --out /tmp/gpt

Deterministic given --seed on one machine and torch build: one CPU thread,
torch.use_deterministic_algorithms(True), seeded initialisation and batches.
Writes step_XXXXXX.safetensors at the capture steps and loss.json into --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

from fpscope.capture import Capture  # noqa: E402

# The training text: these standard-library modules, concatenated in this order.  They ship
# with every Debian python3.11 (package libpython3.11-minimal / -stdlib).
STDLIB_DIR = "/usr/lib/python3.11"
TEXT_FILES = (
    "argparse.py", "bisect.py", "calendar.py", "copy.py", "dataclasses.py", "difflib.py",
    "enum.py", "fractions.py", "functools.py", "heapq.py", "pprint.py", "shlex.py",
    "statistics.py", "string.py", "textwrap.py",
)
# Fixed vocabulary: newline and printable ASCII; any other character becomes '?'.
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))

# Model and training configuration (kept small so the dump stays under 15 MB).
D_MODEL = 64
N_HEAD = 4
N_LAYER = 3
BLOCK_SIZE = 64
BATCH_SIZE = 16
LEARNING_RATE = 3e-3
WARMUP_STEPS = 20
EVAL_EVERY = 25
EVAL_BATCHES = 4
# Capture limits: activations keep at most this many elements, whole rows (tokens) only.
MAX_ELEMENTS_PER_ACTIVATION = 6144


def load_text() -> tuple[str, str]:
    parts = []
    for name in TEXT_FILES:
        with open(os.path.join(STDLIB_DIR, name), encoding="utf-8") as f:
            parts.append(f.read())
    text = "".join(parts)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode(text: str) -> torch.Tensor:
    index = {c: i for i, c in enumerate(VOCAB)}
    unknown = index["?"]
    return torch.tensor([index.get(c, unknown) for c in text], dtype=torch.long)


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)
        mask = torch.triu(torch.ones(BLOCK_SIZE, BLOCK_SIZE, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(D_MODEL, dim=2)
        q, k, v = (z.reshape(b, t, N_HEAD, c // N_HEAD).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // N_HEAD)
        scores = scores.masked_fill(self.mask[:t, :t], float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D_MODEL, 4 * D_MODEL)
        self.fc2 = nn.Linear(4 * D_MODEL, D_MODEL)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D_MODEL)
        self.attn = CausalSelfAttention()
        self.ln2 = nn.LayerNorm(D_MODEL)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(len(VOCAB), D_MODEL)
        self.pos_emb = nn.Embedding(BLOCK_SIZE, D_MODEL)
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.ln_f = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, len(VOCAB))

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb(torch.arange(t))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def get_batch(data: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    starts = torch.randint(0, len(data) - BLOCK_SIZE - 1, (BATCH_SIZE,), generator=generator)
    x = torch.stack([data[s : s + BLOCK_SIZE] for s in starts.tolist()])
    y = torch.stack([data[s + 1 : s + 1 + BLOCK_SIZE] for s in starts.tolist()])
    return x, y


def loss_of(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def evaluate(model, data, seed) -> float:
    generator = torch.Generator().manual_seed(seed + 1)  # same held-out batches every time
    total = 0.0
    for _ in range(EVAL_BATCHES):
        total += loss_of(model, *get_batch(data, generator)).item()
    return total / EVAL_BATCHES


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=400, help="Adam steps (default 400)")
    p.add_argument("--seed", type=int, default=0, help="seed for init, batches and sampling (default 0)")
    p.add_argument("--out", default=os.path.join(HERE, "data", "tiny-gpt"),
                   help="output folder for the dump and loss.json (default examples/data/tiny-gpt)")
    p.add_argument("--capture-steps", type=lambda s: [int(v) for v in s.split(",")], default=None,
                   help="comma-separated steps to capture (default: first, middle, last)")
    p.add_argument("--print-every", type=int, default=25, help="print the loss every N steps")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be at least 1")
    if args.capture_steps is None:
        args.capture_steps = sorted({0, args.steps // 2, args.steps - 1})
    bad = [s for s in args.capture_steps if not 0 <= s < args.steps]
    if bad:
        p.error(f"--capture-steps {bad} outside 0..{args.steps - 1}")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)

    text, text_sha256 = load_text()
    data = encode(text)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]

    model = TinyGPT()
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / WARMUP_STEPS) * 0.5 * (1 + math.cos(math.pi * s / args.steps)))
    batches = torch.Generator().manual_seed(args.seed)
    print(f"tiny-gpt: {n_params} parameters, {len(text)} characters of text (sha256 {text_sha256[:16]}...), "
          f"torch {torch.__version__}, capture steps {args.capture_steps}")

    os.makedirs(args.out, exist_ok=True)
    stale = sorted(f for f in os.listdir(args.out) if f.startswith("step_") and f.endswith(".safetensors")
                   and int(f[5:-12]) not in args.capture_steps)
    if stale:
        print(f"note: {args.out} also holds {stale} from another run")

    capture = Capture(model, optimizer, steps=args.capture_steps, mode="dump", out_dir=args.out,
                      max_elements_per_activation=MAX_ELEMENTS_PER_ACTIVATION, seed=args.seed)
    train_loss, val_loss = [], []
    started = time.perf_counter()
    with capture:
        for step in range(args.steps):
            model.train()
            x, y = get_batch(train_data, batches)
            capture.step_begin(step)
            loss = loss_of(model, x, y)
            loss.backward()
            capture.after_backward()
            optimizer.step()
            capture.after_optimizer_step()
            optimizer.zero_grad(set_to_none=True)
            capture.step_end()
            schedule.step()
            train_loss.append(loss.item())
            if step % EVAL_EVERY == 0 or step == args.steps - 1:
                model.eval()
                val_loss.append([step, evaluate(model, val_data, args.seed)])
            if step % args.print_every == 0 or step == args.steps - 1:
                recent = train_loss[-args.print_every:]
                print(f"step {step:5d}  train loss {sum(recent) / len(recent):.4f}  "
                      f"val loss {val_loss[-1][1]:.4f} (at step {val_loss[-1][0]})  "
                      f"{time.perf_counter() - started:.0f} s", flush=True)

    # loss.json holds no timings, so that a rerun reproduces it byte for byte.
    report = {
        "model": {"d_model": D_MODEL, "n_head": N_HEAD, "n_layer": N_LAYER, "block_size": BLOCK_SIZE,
                  "vocab_size": len(VOCAB), "parameters": n_params},
        "training": {"steps": args.steps, "seed": args.seed, "batch_size": BATCH_SIZE,
                     "learning_rate": LEARNING_RATE, "warmup_steps": WARMUP_STEPS, "schedule": "cosine"},
        "text": {"dir": STDLIB_DIR, "files": list(TEXT_FILES), "characters": len(text), "sha256": text_sha256},
        "torch_version": torch.__version__,
        "capture_steps": args.capture_steps,
        "max_elements_per_activation": MAX_ELEMENTS_PER_ACTIVATION,
        "train_loss": train_loss,
        "val_loss": val_loss,
    }
    tmp = os.path.join(args.out, "loss.json.tmp")
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "loss.json"))
    print(f"wrote {len(capture.written)} dump files and loss.json to {args.out} "
          f"in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
