#!/usr/bin/env python3
"""PyTorch re-implementation of the reference Tiny Recursion Model, as a baseline.

The "reference beside ours" for the CPU training-throughput benchmark: the TRM
network, ACT wrapper, ACTLossHead (stablemax cross entropy), AdamATan2 and the
sparse sign-SGD puzzle-embedding optimiser, written from
shared/spec/reference-model.md alone (sections 2-8), in fp32 only
(forward_dtype float32). Module and attribute names follow the spec's
state_dict names (section 2.1), so the reference's checkpoints load with
load_state_dict(strict=True).

Validation (`check`): for both variants of shared/spec/model-golden.json
(attention + RoPE, and mlp_t), which the unmodified reference code produced
(torch 1.13 CPU, fp32), it loads the weights and batch and reproduces every
eval-mode ACT step (loss, metrics, logits, q logits, preds, halted, steps,
z_H, z_L) and one train-mode step (loss, metrics, every gradient including the
puzzle-embedding local_weights gradient, the table after one sign-SGD step,
every parameter after one AdamATan2 step). It prints the largest error of each
quantity group relative to the tensor's max |expected| and exits 1 above 1e-4.

Benchmark (`bench`): times full training steps on random data, as the Go
BenchmarkTrainStep (model/bench_test.go) does: ACT forward in train mode with
the carry kept across steps, loss head, backward of loss / batch, sign-SGD on
the puzzle embeddings, AdamATan2 on all parameters, zero grads. One JSON line
goes to stdout, progress to stderr. `--device cuda` runs it on a GPU (torch >=
2.0; each step timed to its last kernel), `trm bench train device=cuda`'s
baseline, with its matrix products as trm's GPU backend makes them
(`--matmul`): fp32, TF32 (`allow_tf32`), or bf16 under `torch.autocast`, the
standard mixed precision (the reference instead stores every activation in
bf16).

    python3 benchmarks/train/torch_trm.py check [model-golden.json]
    python3 benchmarks/train/torch_trm.py bench --variant attention --steps 5 --threads 2
    python3 benchmarks/train/torch_trm.py replay CHECKPOINT OUTPUTS.safetensors
    python3 benchmarks/train/torch_trm.py convert REFERENCE_STEP OUT.safetensors

Convert (`convert`): turns a checkpoint the reference wrote (torch.save of the
model's state_dict, <checkpoint_path>/step_<N>) into safetensors with every
floating tensor in fp32 (the reference keeps H_init and L_init in its
forward dtype), for tools that want safetensors; trm's load_checkpoint reads
either file.

Replay (`replay`): loads a trm checkpoint (config.yaml's arch, model.safetensors
under the reference's state_dict names) into this PyTorch model, runs the
evaluation rollout on the batches that `trm eval` saved with eval_save_outputs
(inputs, puzzle_identifiers, labels when saved) and compares the final logits,
q_halt_logits and preds with trm's; it exits 1 beyond 1e-4 relative to the
tensor's scale, or on a prediction that differs where the two best logits are
not within that bound. The safetensors files are read with json and numpy
only, independently of trm's Go reader.

Needs only torch (>= 1.13) and numpy. Debian's python3-torch does its matmuls in
whatever libblas.so.3 the system provides; with the default netlib reference BLAS
that is about 5 GFLOP/s and a step takes nearly a minute, so for a fair baseline
install OpenBLAS (libopenblas0-pthread) and set OPENBLAS_NUM_THREADS to --threads
(`trm bench train` does). The result line names the BLAS library the process
loaded, so a slow one shows.
"""
import argparse
import base64
import contextlib
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE = -100
# Model-config defaults of the reference class (spec 1.1); everything else must be given.
DEFAULTS = dict(puzzle_emb_ndim=0, rms_norm_eps=1e-5, rope_theta=10000.0, forward_dtype="float32",
                mlp_t=False, puzzle_emb_len=16, no_ACT_continue=True)


def make_config(**kw):
    c = SimpleNamespace(**{**DEFAULTS, **kw})
    if c.forward_dtype != "float32":
        raise ValueError("this port runs in fp32 only")
    if not c.no_ACT_continue:
        raise ValueError("no_ACT_continue=False crashes in the reference (quirk Q-M3)")
    return c


def trunc_normal_(t, std):
    """JAX-style truncated normal (spec 2.2): truncated at +-2 sigma, then rescaled so
    that the final standard deviation is `std`."""
    comp_std = 1.1368472343385565 * std
    return nn.init.trunc_normal_(t, std=comp_std, a=-2 * comp_std, b=2 * comp_std)


def swiglu_width(expansion, width):
    # Python's round is half-to-even, as in the reference's find_multiple(round(...), 256).
    return -(-round(expansion * width * 2 / 3) // 256) * 256


def rms_norm(x, eps):
    return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)


class Linear(nn.Module):
    """CastedLinear: weight [out, in], LeCun truncated-normal init."""

    def __init__(self, n_in, n_out, bias=False):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(n_out, n_in), 1 / math.sqrt(n_in)))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Embedding(nn.Module):
    """CastedEmbedding: the parameter is named embedding_weight in the state_dict."""

    def __init__(self, n, dim, std):
        super().__init__()
        self.embedding_weight = nn.Parameter(trunc_normal_(torch.empty(n, dim), std))

    def forward(self, ids):
        return F.embedding(ids.long(), self.embedding_weight)


class Rotary(nn.Module):
    def __init__(self, dim, length, theta):
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
        freqs = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos(), persistent=False)
        self.register_buffer("sin_cached", emb.sin(), persistent=False)


def apply_rope(x, cos, sin):
    """x [B, L, H, d]; half-split pairing: dimension i rotates with i + d/2."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos.unsqueeze(-2) + torch.cat((-x2, x1), dim=-1) * sin.unsqueeze(-2)


class Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.qkv_proj = Linear(hidden, 3 * heads * self.head_dim)
        self.o_proj = Linear(heads * self.head_dim, hidden)

    def forward(self, x, rope):
        B, L, _ = x.shape
        q, k, v = self.qkv_proj(x).view(B, L, 3 * self.heads, self.head_dim).split(self.heads, dim=2)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, L, d]
        # The golden was made with exactly this math (no fused SDPA in torch 1.13).
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        return self.o_proj((att @ v).transpose(1, 2).reshape(B, L, -1))


class SwiGLU(nn.Module):
    def __init__(self, width, expansion):
        super().__init__()
        inter = swiglu_width(expansion, width)
        self.gate_up_proj = Linear(width, 2 * inter)
        self.down_proj = Linear(inter, width)

    def forward(self, x):
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """Post-norm block; mlp_t replaces attention by an MLP over sequence positions."""

    def __init__(self, cfg, length):
        super().__init__()
        self.eps = cfg.rms_norm_eps
        # Registration order fixes the state_dict order: mixer before mlp (spec 2.1).
        if cfg.mlp_t:
            self.mlp_t = SwiGLU(length, cfg.expansion)
        else:
            self.self_attn = Attention(cfg.hidden_size, cfg.num_heads)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.expansion)

    def forward(self, x, rope):
        if hasattr(self, "mlp_t"):
            t = x.transpose(1, 2)
            # Normalises over sequence positions, as the reference does (quirk Q-M7).
            x = rms_norm(t + self.mlp_t(t), self.eps).transpose(1, 2)
        else:
            x = rms_norm(x + self.self_attn(x, rope), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


class ReasoningModule(nn.Module):
    def __init__(self, cfg, length):
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg, length) for _ in range(cfg.L_layers))

    def forward(self, z, injection, rope):
        z = z + injection
        for layer in self.layers:
            z = layer(z, rope)
        return z


class SparseEmbedding(nn.Module):
    """Puzzle embeddings: the table is a buffer trained by sign-SGD. In training the
    batch's rows are copied into local_weights, a leaf that collects the gradient."""

    def __init__(self, n, dim, batch_size):
        super().__init__()
        self.register_buffer("weights", torch.zeros(n, dim))
        self.register_buffer("local_weights", torch.zeros(batch_size, dim, requires_grad=True), persistent=False)
        self.register_buffer("local_ids", torch.zeros(batch_size, dtype=torch.int32), persistent=False)

    def forward(self, ids):
        if not self.training:
            return self.weights[ids.long()]
        with torch.no_grad():
            self.local_weights.copy_(self.weights[ids.long()])
            self.local_ids.copy_(ids)
        return self.local_weights


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden_size
        self.prefix = cfg.puzzle_emb_len or -(cfg.puzzle_emb_ndim // -h)
        length = cfg.seq_len + self.prefix
        self.register_buffer("H_init", trunc_normal_(torch.empty(h), 1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(h), 1.0))
        self.embed_tokens = Embedding(cfg.vocab_size, h, 1 / math.sqrt(h))
        self.lm_head = Linear(h, cfg.vocab_size)
        self.q_head = Linear(h, 2, bias=True)
        with torch.no_grad():  # start with "don't halt" (sigmoid(-5)) and no input dependence
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)
        self.puzzle_emb = (SparseEmbedding(cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim, cfg.batch_size)
                           if cfg.puzzle_emb_ndim > 0 else None)
        self.embed_pos = Embedding(length, h, 1 / math.sqrt(h)) if cfg.pos_encodings == "learned" else None
        self.rotary_emb = (Rotary(h // cfg.num_heads, length, cfg.rope_theta)
                           if cfg.pos_encodings == "rope" else None)
        self.L_level = ReasoningModule(cfg, length)

    def input_embeddings(self, inputs, puzzle_identifiers):
        h = self.cfg.hidden_size
        e = self.embed_tokens(inputs)
        if self.puzzle_emb is not None:
            pe = self.puzzle_emb(puzzle_identifiers)
            pe = F.pad(pe, (0, max(0, self.prefix * h - pe.shape[-1])))
            e = torch.cat((pe.view(-1, self.prefix, h), e), dim=1)
        if self.embed_pos is not None:
            e = 0.707106781 * (e + self.embed_pos.embedding_weight)
        return math.sqrt(h) * e

    def forward(self, z_H, z_L, data):
        cfg = self.cfg
        rope = None if self.rotary_emb is None else (self.rotary_emb.cos_cached, self.rotary_emb.sin_cached)
        x = self.input_embeddings(data["inputs"], data["puzzle_identifiers"])
        # Only the last H cycle is differentiated (the "1-step gradient" of the paper).
        with torch.no_grad():
            for _ in range(cfg.H_cycles - 1):
                for _ in range(cfg.L_cycles):
                    z_L = self.L_level(z_L, z_H + x, rope)
                z_H = self.L_level(z_H, z_L, rope)
        for _ in range(cfg.L_cycles):
            z_L = self.L_level(z_L, z_H + x, rope)
        z_H = self.L_level(z_H, z_L, rope)
        logits = self.lm_head(z_H)[:, self.prefix:]
        q = self.q_head(z_H[:, 0])
        return z_H.detach(), z_L.detach(), logits, q[:, 0], q[:, 1]


@dataclass
class Carry:
    z_H: torch.Tensor
    z_L: torch.Tensor
    steps: torch.Tensor
    halted: torch.Tensor
    data: dict


def rows(mask, like):
    """A per-row mask broadcastable against `like`."""
    return mask.view((-1,) + (1,) * (like.dim() - 1))


class ACT(nn.Module):
    """One ACT step per call for every row (spec section 6)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.inner = Inner(cfg)

    def initial_carry(self, batch):
        B = batch["inputs"].shape[0]
        shape = (B, self.cfg.seq_len + self.inner.prefix, self.cfg.hidden_size)
        # All rows start halted, so every state and data row is replaced on first use.
        return Carry(torch.empty(shape), torch.empty(shape), torch.zeros(B, dtype=torch.int32),
                     torch.ones(B, dtype=torch.bool), {k: torch.empty_like(v) for k, v in batch.items()})

    def forward(self, carry, batch):
        cfg, halted = self.cfg, carry.halted
        z_H = torch.where(rows(halted, carry.z_H), self.inner.H_init, carry.z_H)
        z_L = torch.where(rows(halted, carry.z_L), self.inner.L_init, carry.z_L)
        steps = torch.where(halted, torch.zeros_like(carry.steps), carry.steps)
        # Rows still running keep their old data; the new batch only fills halted rows (quirk Q-M1).
        data = {k: torch.where(rows(halted, v), v, carry.data[k]) for k, v in batch.items()}
        z_H, z_L, logits, q_halt, q_cont = self.inner(z_H, z_L, data)
        with torch.no_grad():
            steps = steps + 1
            halted = steps >= cfg.halt_max_steps
            if self.training and cfg.halt_max_steps > 1:
                halted = halted | (q_halt > 0)
                explore = torch.rand_like(q_halt) < cfg.halt_exploration_prob
                min_halt = explore * torch.randint_like(steps, low=2, high=cfg.halt_max_steps + 1)
                halted = halted & (steps >= min_halt)
        out = dict(logits=logits, q_halt_logits=q_halt, q_continue_logits=q_cont)
        return Carry(z_H, z_L, steps, halted, data), out


def stablemax_cross_entropy(logits, labels, mask):
    """Per-token loss in float64 (spec 7.1); 0 where the label is ignored."""
    x = logits.double()
    # s(x) = x + 1 for x >= 0, 1 / (1 - x) for x < 0. Clamping the unused branch keeps
    # it finite, so where()'s backward cannot produce 0 * inf at x == 1.
    s = torch.where(x < 0, 1 / (1 - x.clamp(max=0) + 1e-30), x + 1)
    logp = torch.log(s / s.sum(-1, keepdim=True))
    picked = logp.gather(-1, torch.where(mask, labels, torch.zeros_like(labels)).long().unsqueeze(-1)).squeeze(-1)
    return -picked * mask


class ACTLossHead(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, carry, batch):
        carry, out = self.model(carry, batch)
        labels, logits, q_halt = carry.data["labels"], out["logits"], out["q_halt_logits"]
        with torch.no_grad():
            out["preds"] = logits.argmax(-1)
            mask = labels != IGNORE
            n = mask.sum(-1)
            div = n.clamp_min(1).unsqueeze(-1)
            is_correct = mask & (out["preds"] == labels)
            seq_correct = is_correct.sum(-1) == n
            valid = carry.halted & (n > 0)
            metrics = dict(
                count=valid.sum(),
                accuracy=((is_correct.float() / div).sum(-1) * valid).sum(),
                exact_accuracy=(valid & seq_correct).sum(),
                q_halt_accuracy=(valid & ((q_halt >= 0) == seq_correct)).sum(),
                steps=(carry.steps * valid).sum())
        # Every row is supervised at every ACT step (deep supervision); no q_continue loss
        # because no_ACT_continue is the only working setting.
        lm_loss = (stablemax_cross_entropy(logits, labels, mask) / div).sum()
        q_halt_loss = F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="sum")
        metrics.update(lm_loss=lm_loss.detach(), q_halt_loss=q_halt_loss.detach())
        return carry, lm_loss + 0.5 * q_halt_loss, metrics, out


class AdamATan2(torch.optim.Optimizer):
    """imoneoi's adam-atan2 (a = b = 1, no epsilon), decoupled weight decay first (spec 8.1)."""

    def __init__(self, params, lr, betas, weight_decay):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:  # the kernel skips these entirely: no decay, no step count
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                t, m, v = state["step"], state["m"], state["v"]
                # Bias corrections are per-tensor scalars computed in double, as the kernel's are.
                rbc1, sbc2 = 1 / (1 - b1 ** t), math.sqrt(1 - b2 ** t)
                p.mul_(1 - lr * wd)
                m.lerp_(p.grad, 1 - b1)
                v.lerp_(p.grad.square(), 1 - b2)
                p.sub_(lr * torch.atan2(rbc1 * m, v.sqrt() / sbc2))


class SparseSignSGD:
    """Sign-SGD on the puzzle-embedding rows of the batch (spec 8.2, one process)."""

    def __init__(self, emb, lr, weight_decay):
        self.emb, self.lr, self.wd = emb, lr, weight_decay

    @torch.no_grad()
    def step(self):
        grad = self.emb.local_weights.grad
        if grad is None:
            return
        ids, inv = self.emb.local_ids.long().unique(return_inverse=True)
        g = torch.zeros(len(ids), grad.shape[1]).index_add_(0, inv, grad)  # rows sharing an id add up
        w = self.emb.weights
        w[ids] = w[ids] * (1 - self.lr * self.wd) - self.lr * g.sign()

    def zero_grad(self):
        self.emb.local_weights.grad = None


# ---------------------------------------------------------------- check

def decode(t):
    """A golden tensor: base64 of little-endian raw bytes, dtype as a numpy descr."""
    arr = np.frombuffer(base64.b64decode(t["b64"]), dtype=np.dtype(t["dtype"])).reshape(t["shape"])
    return torch.from_numpy(arr.copy())


def check_variant(name, v, report):
    torch.manual_seed(0)
    head = ACTLossHead(ACT(make_config(**v["config"])))
    head.load_state_dict({k: decode(t) for k, t in v["state_dict"].items()}, strict=True)
    batch = {k: decode(t) for k, t in v["batch"].items()}

    def compare(group, label, got, want):
        got = got.detach().double()
        want = torch.as_tensor(want, dtype=torch.float64)  # a Python float stays exact
        if got.shape != want.shape:
            raise SystemExit(f"{name} {label}: shape {tuple(got.shape)} != {tuple(want.shape)}")
        err = ((got - want).abs().max() / max(want.abs().max().item(), 1e-6)).item()
        report.setdefault((name, group), []).append((err, label))

    def compare_step(prefix, exp, carry, loss, metrics, out):
        compare(f"{prefix} loss", "loss", loss, exp["loss"])
        for k, want in exp["metrics"].items():
            compare(f"{prefix} metrics", k, metrics[k], want)
        for k in ("logits", "q_halt_logits", "q_continue_logits", "preds"):
            if k in exp:
                compare(f"{prefix} {k}", k, out[k], decode(exp[k]))
        for k in ("halted", "steps", "z_H", "z_L"):
            if k in exp:
                compare(f"{prefix} {k}", k, getattr(carry, k), decode(exp[k]))

    head.eval()
    carry = head.model.initial_carry(batch)
    with torch.no_grad():
        for exp in v["eval_rollout"]:
            carry, loss, metrics, out = head(carry, batch)
            compare_step("eval", exp, carry, loss, metrics, out)
    compare("eval halted", "all halted after the rollout", carry.halted.all(), True)

    ts = v["train_step"]
    head.train()
    carry, loss, metrics, out = head(head.model.initial_carry(batch), batch)
    (loss / v["config"]["batch_size"]).backward()
    compare_step("train", ts, carry, loss, metrics, out)
    compare("train halted", "halted_after", carry.halted, decode(ts["halted_after"]))

    emb = head.model.inner.puzzle_emb
    tensors = dict(head.named_parameters(), **{"model.inner.puzzle_emb.local_weights": emb.local_weights})
    grads = ts["grads_of_loss_over_global_batch_size"]
    missing = set(tensors) - {k.removesuffix("(buffer)") for k in grads}
    if missing:
        raise SystemExit(f"{name}: the golden lacks gradients of {sorted(missing)}")
    for k, t in grads.items():
        key = k.removesuffix("(buffer)")
        compare("grad puzzle_emb.local_weights" if key.endswith("local_weights") else "grads",
                key, tensors[key].grad, decode(t))

    # The optimiser settings are only given in the golden's key names.
    (sgd_key,) = [k for k in ts if k.startswith("puzzle_emb_weights_after_signsgd")]
    lr, wd = map(float, re.search(r"_lr([^_]+)_wd([^_]+)$", sgd_key).groups())
    SparseSignSGD(emb, lr, wd).step()
    compare("puzzle_emb after sign-SGD", "weights", emb.weights, decode(ts[sgd_key]))

    (adam_key,) = [k for k in ts if k.startswith("params_after_adam_atan2")]
    lr, b1, b2, wd = map(float, re.search(r"_lr([^_]+)_b([^_]+)_([^_]+)_wd([^_]+)$", adam_key).groups())
    AdamATan2(head.parameters(), lr, (b1, b2), wd).step()
    params = dict(head.named_parameters())
    if set(params) != set(ts[adam_key]):
        raise SystemExit(f"{name}: parameters differ from the golden's {adam_key}")
    for k, t in ts[adam_key].items():
        compare("params after AdamATan2", k, params[k], decode(t))


def check(path, tol=1e-4):
    with open(path) as f:
        golden = json.load(f)
    report = {}
    for name, v in golden["variants"].items():
        check_variant(name, v, report)
    failed = False
    for (variant, group), errs in report.items():
        err, label = max(errs)
        failed |= err > tol
        print(f"{variant:10s} {group:32s} max rel err {err:.2e}  ({len(errs)} compared; worst {label})"
              f"{'  FAIL' if err > tol else ''}")
    print("FAIL" if failed else f"OK: every quantity within {tol:g} of the golden relative to its scale")
    return 1 if failed else 0


# ---------------------------------------------------------------- replay

ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def read_safetensors(path):
    """{name: tensor} from a safetensors file: an 8-byte little-endian header length,
    a JSON header of dtype, shape and data offsets, then the data."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        arr = np.frombuffer(body[begin:end], dtype=np.dtype(ST_DTYPES[e["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(arr.reshape(e["shape"]).copy())
    return out


ARCH_KEYS = ("hidden_size", "num_heads", "L_layers", "H_cycles", "L_cycles", "expansion", "pos_encodings",
             "mlp_t", "puzzle_emb_ndim", "puzzle_emb_len", "halt_max_steps", "halt_exploration_prob",
             "rms_norm_eps", "rope_theta", "no_ACT_continue")


def replay(checkpoint, outputs_path, tol=1e-4):
    import yaml  # Debian's python3-yaml; only this command needs it

    with open(os.path.join(checkpoint, "config.yaml")) as f:
        config = yaml.safe_load(f)
    weights = read_safetensors(os.path.join(checkpoint, "model.safetensors"))
    # trm saves the reference's names as torch.compile leaves them.
    state = {k.removeprefix("_orig_mod."): v for k, v in weights.items()}
    saved = read_safetensors(outputs_path)
    inputs = saved["inputs"]
    rows, seq_len = inputs.shape
    vocab, _ = state["model.inner.lm_head.weight"].shape
    ids = state.get("model.inner.puzzle_emb.weights")
    batch = config["global_batch_size"]
    cfg = make_config(batch_size=batch, seq_len=seq_len, vocab_size=vocab,
                      num_puzzle_identifiers=0 if ids is None else ids.shape[0],
                      **{k: config["arch"][k] for k in ARCH_KEYS if k in config["arch"]})
    head = ACTLossHead(ACT(cfg)).eval()
    head.load_state_dict(state, strict=True)
    labels = saved.get("labels", torch.full_like(inputs, IGNORE))
    logits, q_halt, preds = [], [], []
    with torch.no_grad():
        for start in range(0, rows, batch):
            b = dict(inputs=inputs[start:start + batch], labels=labels[start:start + batch],
                     puzzle_identifiers=saved["puzzle_identifiers"][start:start + batch])
            carry = head.model.initial_carry(b)
            while True:
                carry, _, _, out = head(carry, b)
                if carry.halted.all():
                    break
            logits.append(out["logits"])
            q_halt.append(out["q_halt_logits"])
            preds.append(out["preds"])
    logits, q_halt, preds = torch.cat(logits), torch.cat(q_halt), torch.cat(preds)
    failed = False
    for name, got in (("logits", logits), ("q_halt_logits", q_halt)):
        if name not in saved:
            continue
        want = saved[name].double()
        err = ((got.double() - want).abs().max() / max(want.abs().max().item(), 1e-6)).item()
        failed |= err > tol
        print(f"{name:14s} max rel err {err:.2e}{'  FAIL' if err > tol else ''}")
    if "preds" in saved:
        differ = preds != saved["preds"].long()
        # A different argmax is a disagreement only where trm's choice is clearly worse.
        picked = logits.gather(-1, saved["preds"].long().unsqueeze(-1)).squeeze(-1)
        gap = (logits.max(-1).values - picked) / max(logits.abs().max().item(), 1e-6)
        bad = int((differ & (gap > tol)).sum())
        failed |= bad > 0
        print(f"preds          {int(differ.sum())} of {preds.numel()} differ, {bad} beyond ties{'  FAIL' if bad else ''}")
    print("FAIL" if failed else f"OK: {rows} rows of {outputs_path} reproduced from {checkpoint}")
    return 1 if failed else 0


def write_safetensors(path, tensors):
    """Write {name: tensor} as safetensors (the format read_safetensors reads)."""
    names = {np.dtype(v): k for k, v in ST_DTYPES.items()}
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        arr = np.ascontiguousarray(t.numpy()).astype(t.numpy().dtype.newbyteorder("<"), copy=False)
        blob = arr.tobytes()
        header[name] = dict(dtype=names[np.dtype(arr.dtype.newbyteorder("="))], shape=list(arr.shape),
                            data_offsets=[offset, offset + len(blob)])
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # aligned data, as trm writes it
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def convert(src, dst):
    state = torch.load(src, map_location="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SystemExit(f"{src}: not a state_dict (a dict of tensors), as the reference's step_<N> files are")
    out = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    write_safetensors(dst, out)
    print(f"OK: {len(out)} tensors of {src} written to {dst} (floating tensors as fp32)")
    return 0


# ---------------------------------------------------------------- bench

def blas_library():
    """The BLAS this process has mapped (Linux): the concrete library (OpenBLAS, MKL,
    BLIS) when one is loaded, else the generic libblas.so.3's directory and name. Which
    one serves torch's matmuls decides its speed."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if re.search(r"blas|mkl", line.rsplit("/", 1)[-1])}
    except OSError:
        return "unknown"
    names = sorted(os.path.basename(p) for p in paths)
    concrete = [n for n in names if re.search(r"openblas|mkl|blis", n)]
    if concrete:
        return ", ".join(concrete)
    return ", ".join(sorted(os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p))
                            for p in paths)) or "none found"


def bench(a):
    torch.set_num_threads(a.threads)
    gpu = a.device != "cpu"
    if a.matmul != "fp32" and not gpu:
        raise SystemExit(f"--matmul {a.matmul} is for a GPU (trm's CPU backend multiplies in fp32)")
    if gpu:
        # Every tensor the model, the batch and the optimisers make goes to
        # the device (torch >= 2.0), so the port runs there unchanged.
        if not hasattr(torch, "set_default_device"):
            raise SystemExit(f"--device {a.device} needs torch >= 2.0 (this is {torch.__version__})")
        torch.set_default_device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = a.matmul == "tf32"
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if a.matmul == "bf16"
                else contextlib.nullcontext())
    torch.manual_seed(a.seed)  # weights, data and the exploration draws
    mlp_t = a.variant == "mlp_t"
    cfg = make_config(
        batch_size=a.batch, seq_len=a.seq_len, vocab_size=a.vocab, num_puzzle_identifiers=a.identifiers,
        puzzle_emb_ndim=a.hidden, puzzle_emb_len=a.puzzle_emb_len, hidden_size=a.hidden, num_heads=a.heads,
        L_layers=a.layers, H_cycles=a.H_cycles, L_cycles=a.L_cycles, expansion=a.expansion,
        pos_encodings="none" if mlp_t else "rope", mlp_t=mlp_t,
        halt_max_steps=a.halt_max_steps, halt_exploration_prob=a.halt_exploration_prob)
    head = ACTLossHead(ACT(cfg)).train()
    B, S = a.batch, a.seq_len
    hi = max(a.identifiers - 1, 0)
    batch = dict(inputs=torch.randint(1, a.vocab, (B, S), dtype=torch.int32),
                 labels=torch.randint(1, a.vocab, (B, S), dtype=torch.int32),
                 puzzle_identifiers=torch.randint(min(1, hi), hi + 1, (B,), dtype=torch.int32))
    # Both lrs 1e-4 and weight decay 1.0: the README's sudoku run, as the Go benchmark uses.
    sgd = SparseSignSGD(head.model.inner.puzzle_emb, 1e-4, a.weight_decay)
    adam = AdamATan2(head.parameters(), 1e-4, (0.9, 0.95), a.weight_decay)
    carry = head.model.initial_carry(batch)
    times, cpu = [], 0.0
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        with autocast:
            carry, loss, _, _ = head(carry, batch)
        (loss / B).backward()
        sgd.step()
        adam.step()
        sgd.zero_grad()
        adam.zero_grad(set_to_none=True)
        if gpu:
            torch.cuda.synchronize()  # the step's kernels are done, not just queued
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(dt)
            cpu += time.process_time() - c0
        print(f"step {i + 1}/{a.warmup + a.steps}{' (warm-up)' if i < a.warmup else ''}: "
              f"{dt * 1e3:.0f} ms, loss {loss.item():.4f}", file=sys.stderr)
    mean = sum(times) / len(times)
    blas = f"cuBLAS on {torch.cuda.get_device_name()}, {a.matmul} matmuls" if gpu else blas_library()
    print(json.dumps(dict(impl="pytorch", torch=torch.__version__, blas=blas, variant=a.variant, threads=a.threads,
                          batch=B, steps=a.steps, ms_per_step=round(mean * 1e3, 2),
                          ms_per_step_min=round(min(times) * 1e3, 2), cpu_s_per_step=round(cpu / a.steps, 3),
                          examples_per_s=round(B / mean, 2),
                          params=sum(p.numel() for p in head.parameters()))))


def main():
    default_golden = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "..", "..", "..", "shared", "spec", "model-golden.json")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="reproduce model-golden.json")
    c.add_argument("golden", nargs="?", default=os.path.normpath(default_golden))
    r = sub.add_parser("replay", help="rerun a trm checkpoint on outputs trm eval saved")
    r.add_argument("checkpoint")
    r.add_argument("outputs")
    v = sub.add_parser("convert", help="a reference checkpoint (torch.save) to safetensors that trm loads")
    v.add_argument("src")
    v.add_argument("dst")
    b = sub.add_parser("bench", help="time training steps on random data")
    b.add_argument("--variant", choices=("attention", "mlp_t"), default="attention")
    for flag, default in (("--hidden", 128), ("--heads", 4), ("--layers", 2), ("--H-cycles", 3), ("--L-cycles", 6),
                          ("--batch", 64), ("--seq-len", 81), ("--vocab", 11), ("--puzzle-emb-len", 16),
                          ("--identifiers", 2), ("--halt-max-steps", 16), ("--steps", 5), ("--warmup", 1),
                          ("--threads", 2), ("--seed", 0)):
        b.add_argument(flag, type=int, default=default)
    b.add_argument("--expansion", type=float, default=4.0)
    b.add_argument("--device", default="cpu", help="cpu, or a torch CUDA device (cuda, cuda:0)")
    b.add_argument("--matmul", choices=("fp32", "tf32", "bf16"), default="fp32",
                   help="on a GPU: matmuls in fp32, TF32, or bf16 (torch.autocast)")
    b.add_argument("--halt-exploration-prob", type=float, default=0.1)
    b.add_argument("--weight-decay", type=float, default=1.0)
    a = p.parse_args()
    if a.cmd == "check":
        sys.exit(check(a.golden))
    if a.cmd == "replay":
        sys.exit(replay(a.checkpoint, a.outputs))
    if a.cmd == "convert":
        sys.exit(convert(a.src, a.dst))
    bench(a)


if __name__ == "__main__":
    main()
