"""same_training.py A B [ROUNDS]: training folders A and B hold the same results, bit for bit:
every dataset of model.h5, summary.tsv, and metrics.jsonl but for its speed field (images_per_s);
with ROUNDS, metrics.jsonl has that many lines. Exit 0, or 1 with what differs."""
import json
import sys

import h5py


def main():
    a, b = sys.argv[1:3]
    fa, fb = h5py.File(f"{a}/model.h5", "r"), h5py.File(f"{b}/model.h5", "r")
    names = []
    fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    bad = [n for n in names if n not in fb or fa[n][()].tobytes() != fb[n][()].tobytes()]
    if not names or bad:
        return f"model.h5 differs: {bad[:5] or 'no datasets'}"
    if open(f"{a}/summary.tsv").read() != open(f"{b}/summary.tsv").read():
        return "summary.tsv differs"
    strip = lambda p: [{k: v for k, v in json.loads(l).items() if k != "images_per_s"} for l in open(p)]
    ra, rb = strip(f"{a}/metrics.jsonl"), strip(f"{b}/metrics.jsonl")
    if len(sys.argv) > 3 and len(ra) != int(sys.argv[3]):
        return f"metrics.jsonl has {len(ra)} lines, expected {sys.argv[3]}"
    if ra != rb:
        return f"metrics.jsonl differs ({len(ra)} and {len(rb)} lines)"
    return 0


if __name__ == "__main__":
    sys.exit(main())
