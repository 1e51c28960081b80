"""Compare the /synthetic images of two run folders: SAME_SYNTHETIC.py A B TOL [GROUP]
(labels and host indices must be equal; prints the max abs difference and
whether the images are bit-identical; exit 1 above TOL). GROUP: another
image group (surrogate) instead of synthetic."""
import sys, glob, os, h5py, numpy as np
a, b = sys.argv[1:3]
group = sys.argv[4] if len(sys.argv) > 4 else "synthetic"
worst, same, n = 0.0, True, 0
for p in sorted(glob.glob(a + "/site-*.h5")):
    fa, fb = h5py.File(p), h5py.File(os.path.join(b, os.path.basename(p)))
    for s in ("train", "val", "test"):
        x, y = fa[f"{group}/{s}/images"][()], fb[f"{group}/{s}/images"][()]
        assert x.shape == y.shape
        assert (fa[f"{group}/{s}/labels"][()] == fb[f"{group}/{s}/labels"][()]).all()
        if "host_index" in fa[f"{group}/{s}"]:
            assert (fa[f"{group}/{s}/host_index"][()] == fb[f"{group}/{s}/host_index"][()]).all()
        worst = max(worst, float(np.abs(x.astype(np.float64) - y).max(initial=0)))
        same &= x.tobytes() == y.tobytes()
        n += len(x)
print(f"{n} items, max abs difference {worst:.3g}, bit-identical: {same}")
sys.exit(0 if worst <= float(sys.argv[3]) else 1)
