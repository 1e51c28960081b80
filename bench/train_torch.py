"""Training throughput of fesf's C engine against PyTorch (CPU), same
architecture, batch, image size and thread count, measured in the same run.

For each case: PyTorch trains the model from tests/py/torch_models.py (the same
definition as fesf's) on a random batch with SGD momentum 0.9 (forward +
backward + step), after a warm-up, for --seconds; then `fesf bench train` runs
the same case. Cases alternate between the two engines --rounds times and the
median of each is reported. Output lines:
  bench train-torch model=.. width=.. size=.. channels=.. batch=.. threads=.. images_per_s=..
  bench train-compare ... images_per_s=<fesf> torch_images_per_s=.. ratio_torch=..
usage: train_torch.py [--fesf BIN] [--cases "cnn-small:16:28,resnet18:16:28"] [--batch 64]
                      [--threads 2] [--channels 1] [--seconds 3] [--rounds 3]
Run with Debian's /usr/bin/python3 (torch)."""
import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from torch_models import build  # noqa: E402

DEFAULT_CASES = "cnn-small:16:28,cnn-small:16:64,resnet18:16:28,resnet18:16:64,resnet18:64:28"


def torch_rate(arch, width, size, channels, batch, threads, seconds):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(arch, width, channels, 2).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(batch, channels, size, size)
    y = torch.randint(0, 2, (batch,))

    def step():
        opt.zero_grad(set_to_none=False)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or steps < 3:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - t0)


def fesf_rate(fesf, arch, width, size, channels, batch, threads, seconds):
    out = subprocess.run([fesf, "bench", "train", "--model", arch, "--width", str(width), "--size", str(size),
                          "--channels", str(channels), "--batch", str(batch), "--threads", str(threads),
                          "--tenths", str(int(seconds * 10))], check=True, capture_output=True, text=True).stdout
    kv = dict(tok.split("=", 1) for tok in out.split() if "=" in tok)
    return float(kv["images_per_s"]), kv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fesf")
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(f"# torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"load average {os.getloadavg()}", flush=True)
    for case in a.cases.split(","):
        arch, width, size = case.split(":")
        width, size = int(width), int(size)
        t_rates, f_rates, kv = [], [], {}
        for _ in range(a.rounds):
            t_rates.append(torch_rate(arch, width, size, a.channels, a.batch, a.threads, a.seconds))
            if a.fesf:
                r, kv = fesf_rate(a.fesf, arch, width, size, a.channels, a.batch, a.threads, a.seconds)
                f_rates.append(r)
        tr = statistics.median(t_rates)
        common = f"model={arch} width={width} size={size} channels={a.channels} batch={a.batch} threads={a.threads}"
        print(f"bench train-torch {common} images_per_s={tr:.1f}", flush=True)
        if a.fesf:
            fr = statistics.median(f_rates)
            # GFLOP/s at the median rate (older binaries print no gflop_per_s)
            gf = float(kv["gflop_per_s"]) * fr / float(kv["images_per_s"]) if "gflop_per_s" in kv else float("nan")
            print(f"bench train-compare {common} images_per_s={fr:.1f} torch_images_per_s={tr:.1f} "
                  f"ratio_torch={fr / tr:.3f} gflop_per_s={gf:.2f} peak_rss_mb={kv.get('peak_rss_mb')}", flush=True)


if __name__ == "__main__":
    main()
