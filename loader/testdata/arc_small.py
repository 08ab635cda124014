"""Rebuild run A_small of spec/arc-builder-golden.json (subsets concept +
evaluation2, test set evaluation2, num_aug 3, seed 42) with numpy, written
from spec/reference-data.md section 2 (not from the reference code).

The loader's golden test needs the split structure (puzzle_indices,
group_indices, puzzle_identifiers) of that build; the batch composition in
loader-golden.json is expressed in those indices only. Usage:

  /usr/bin/python3 arc_small.py ARC_DIR structure OUT.json
      writes the index arrays of both splits (checked into testdata as
      arc_small_structure.json; the Go test re-checks their sha256 against
      the builder golden).
  /usr/bin/python3 arc_small.py ARC_DIR tokens OUTDIR
      also writes <split>_inputs.bin / <split>_labels.bin (raw uint8 rows),
      used by the optional token-level golden test.
"""
import hashlib
import json
import sys

import numpy as np

SUBSETS = ["concept", "evaluation2"]
TEST_SET = "evaluation2"
NUM_AUG = 3
SEED = 42


def grid(g):
    a = np.array(g)
    assert a.ndim == 2 and a.shape[0] <= 30 and a.shape[1] <= 30
    assert np.all((a >= 0) & (a <= 9))
    return a.astype(np.uint8)


def dihedral(a, t):
    return [a, np.rot90(a, 1), np.rot90(a, 2), np.rot90(a, 3), np.fliplr(a),
            np.flipud(a), a.T, np.fliplr(np.rot90(a, 1))][t] if 0 <= t < 8 else a


def grid_hash(g):
    return hashlib.sha256(bytes([g.shape[0], g.shape[1]]) + np.ascontiguousarray(g).tobytes()).hexdigest()


def puzzle_hash(member):
    parts = sorted(grid_hash(i) + "|" + grid_hash(o) for exs in member.values() for i, o in exs[1])
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def main():
    arc_dir, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
    np.random.seed(SEED)
    results = {"train": [], "test": []}  # train first (quirk Q-A1)
    for subset in SUBSETS:
        with open(f"{arc_dir}/arc-agi_{subset}_challenges.json") as f:
            challenges = json.load(f)
        with open(f"{arc_dir}/arc-agi_{subset}_solutions.json") as f:
            solutions = json.load(f)
        for tid, task in challenges.items():
            for idx, g in enumerate(solutions[tid]):
                task["test"][idx]["output"] = g
        puzzles = list(challenges.items())
        np.random.shuffle(puzzles)
        test_dest = "test" if subset == TEST_SET else "train"
        mapping = {"train": "train", "test": test_dest}
        for name, task in puzzles:
            conv = {d: (name, []) for d in set(mapping.values())}
            for kind, exs in task.items():
                for e in exs:
                    conv[mapping[kind]][1].append((grid(e["input"]), grid(e["output"])))
            group = [conv]
            hashes = {puzzle_hash(conv)}
            for _ in range(5 * NUM_AUG):
                t = np.random.randint(0, 8)
                perm = np.random.permutation(np.arange(1, 10, dtype=np.uint8))
                cmap = np.concatenate([np.zeros(1, np.uint8), perm])
                aname = name + "|||t" + str(t) + "|||" + "".join(str(d) for d in cmap)
                aug = {d: (aname, [(dihedral(cmap[i], t), dihedral(cmap[o], t)) for i, o in p[1]]) for d, p in conv.items()}
                h = puzzle_hash(aug)
                if h not in hashes:
                    hashes.add(h)
                    group.append(aug)
                if len(group) >= NUM_AUG + 1:
                    break
            for d in ("train", "test"):
                if d in conv:
                    results[d].append([m[d] for m in group])
    ids = {}
    for split in ("train", "test"):
        for group in results[split]:
            for name, _ in group:
                ids.setdefault(name, len(ids) + 1)
    structure, tokens = {}, {}
    for split in ("train", "test"):
        pi, gi, pid, rows_in, rows_lab = [0], [0], [], [], []
        for group in results[split]:
            for name, exs in group:
                no_aug = np.random.randint(0, len(exs))
                for idx, (i, o) in enumerate(exs):
                    tr = split == "train" and idx != no_aug
                    pr = np.random.randint(0, 30 - max(i.shape[0], o.shape[0]) + 1) if tr else 0
                    pc = np.random.randint(0, 30 - max(i.shape[1], o.shape[1]) + 1) if tr else 0
                    for g, dst in ((i, rows_in), (o, rows_lab)):
                        c = np.zeros((30, 30), np.uint8)
                        h, w = g.shape
                        c[pr:pr + h, pc:pc + w] = g + 2
                        if pr + h < 30:
                            c[pr + h, pc:pc + w] = 1
                        if pc + w < 30:
                            c[pr:pr + h, pc + w] = 1
                        dst.append(c.reshape(-1))
                pi.append(pi[-1] + len(exs))
                pid.append(ids[name])
            gi.append(len(pid))
        structure[split] = {"puzzle_indices": pi, "group_indices": gi, "puzzle_identifiers": pid}
        tokens[split] = (np.stack(rows_in), np.stack(rows_lab))
    if mode == "structure":
        with open(out, "w") as f:
            json.dump(structure, f, separators=(",", ":"))
            f.write("\n")
    else:
        for split, (i, l) in tokens.items():
            i.tofile(f"{out}/{split}_inputs.bin")
            l.tofile(f"{out}/{split}_labels.bin")


main()
