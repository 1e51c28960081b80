#!/usr/bin/python3
"""PyTorch reference runs for src/nn/optim.c (read by tests/unit/test_optim.c).

For every case below: draw float32 parameters and NSTEPS gradients from a
NumPy generator seeded with --seed, run torch.optim (SGD / Adam / AdamW) with
its lr scheduler (StepLR / CosineAnnealingLR / none) stepped once per
optimizer step, and write the inputs, the learning rate torch used at every
step and the parameters after the last step.

Output (text, one record per line, whitespace separated; every float is
written with float.hex() so that it round-trips exactly through strtod):

    fesf-optim-ref 1 NCASES
    then per case:
    case NAME KIND SCHED N NSTEPS lr momentum nesterov weight_decay beta1 beta2 eps
         step_size gamma total_steps lr_min         (config, decimal, one line)
    lr  NSTEPS values    (the lr torch used at step t = 0 .. NSTEPS-1)
    p0  N values
    g   N values         (NSTEPS lines, one per step)
    p   N values         (parameters after NSTEPS steps)
    end                  (after the last case)

KIND is sgd | adam | adamw, SCHED constant | step | cosine. Config values are
written in decimal as given to torch (C reads them into floats, as a config
file would be read).

Usage: optim_ref.py --seed S --out FILE [--n N]
Exit status 0 on success, 77 when torch or numpy cannot be imported (the C
test then skips). Run with Debian's /usr/bin/python3 (torch 1.13, numpy).
"""
import argparse
import sys

NSTEPS = 5

# name, kind, sched, lr, momentum, nesterov, weight_decay, step_size, gamma,
# total_steps, lr_min
CASES = [
    ("sgd_plain_const", "sgd", "constant", 0.1, 0.0, 0, 0.0, 30, 0.1, 0, 0.0),
    ("sgd_mom_step", "sgd", "step", 0.1, 0.9, 0, 1e-2, 2, 0.5, 0, 0.0),
    ("sgd_mom_cosine", "sgd", "cosine", 0.1, 0.9, 0, 1e-2, 30, 0.1, 4, 1e-3),
    ("sgd_nesterov_step", "sgd", "step", 0.1, 0.9, 1, 1e-2, 2, 0.5, 0, 0.0),
    ("sgd_nesterov_cosine", "sgd", "cosine", 0.1, 0.9, 1, 1e-2, 30, 0.1, 4, 1e-3),
    ("adam_const", "adam", "constant", 1e-3, 0.0, 0, 0.0, 30, 0.1, 0, 0.0),
    ("adam_step", "adam", "step", 1e-2, 0.0, 0, 1e-2, 2, 0.5, 0, 0.0),
    ("adam_cosine", "adam", "cosine", 1e-2, 0.0, 0, 1e-2, 30, 0.1, 4, 1e-3),
    ("adamw_step", "adamw", "step", 1e-2, 0.0, 0, 1e-2, 2, 0.5, 0, 0.0),
    ("adamw_cosine", "adamw", "cosine", 1e-2, 0.0, 0, 1e-2, 30, 0.1, 4, 1e-3),
]
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def hexline(tag, values):
    return tag + " " + " ".join(float(x).hex() for x in values) + "\n"


def make_inputs(rng, n):
    """float32 parameters and gradients with a spread of magnitudes, some
    exact zeros (Adam's denominator is then eps) and sign changes."""
    import numpy as np
    p0 = rng.standard_normal(n).astype(np.float32)
    scale = (10.0 ** rng.uniform(-3, 1, n)).astype(np.float32)
    gs = []
    for _ in range(NSTEPS):
        g = (rng.standard_normal(n).astype(np.float32) * scale).astype(np.float32)
        g[rng.random(n) < 0.05] = 0.0
        gs.append(g)
    return p0, gs


def run_case(case, p0, gs):
    import torch
    name, kind, sched, lr, mom, nest, wd, step_size, gamma, total, lr_min = case
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    if kind == "sgd":
        opt = torch.optim.SGD([p], lr=lr, momentum=mom, nesterov=bool(nest), weight_decay=wd)
    elif kind == "adam":
        opt = torch.optim.Adam([p], lr=lr, betas=(BETA1, BETA2), eps=EPS, weight_decay=wd)
    else:
        opt = torch.optim.AdamW([p], lr=lr, betas=(BETA1, BETA2), eps=EPS, weight_decay=wd)
    if sched == "step":
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    elif sched == "cosine":
        sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=lr_min)
    else:
        sch = None
    lrs = []
    for g in gs:
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        if sch is not None:
            sch.step()
    return lrs, p.detach().numpy().copy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=1003)
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError as e:
        print(f"optim_ref.py: {e}", file=sys.stderr)
        return 77
    torch.set_num_threads(1)
    rng = np.random.default_rng(a.seed)
    out = [f"fesf-optim-ref 1 {len(CASES)}\n"]
    for case in CASES:
        name, kind, sched, lr, mom, nest, wd, step_size, gamma, total, lr_min = case
        p0, gs = make_inputs(rng, a.n)
        lrs, p = run_case(case, p0, gs)
        out.append(f"case {name} {kind} {sched} {a.n} {NSTEPS} {lr!r} {mom!r} {nest} {wd!r} "
                   f"{BETA1!r} {BETA2!r} {EPS!r} {step_size} {gamma!r} {total} {lr_min!r}\n")
        out.append(hexline("lr", lrs))
        out.append(hexline("p0", p0))
        for g in gs:
            out.append(hexline("g", g))
        out.append(hexline("p", p))
    out.append("end\n")
    with open(a.out, "w") as f:
        f.writelines(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
