"""Compare the /synthetic images of two run folders: SAME_SYNTHETIC.py A B TOL
(labels and host indices must be equal; prints the max abs difference and
whether the images are bit-identical; exit 1 above TOL)."""
import sys, glob, os, h5py, numpy as np
a, b = sys.argv[1:3]
worst, same, n = 0.0, True, 0
for p in sorted(glob.glob(a + "/site-*.h5")):
    fa, fb = h5py.File(p), h5py.File(os.path.join(b, os.path.basename(p)))
    for s in ("train", "val", "test"):
        x, y = fa[f"synthetic/{s}/images"][()], fb[f"synthetic/{s}/images"][()]
        assert x.shape == y.shape
        assert (fa[f"synthetic/{s}/labels"][()] == fb[f"synthetic/{s}/labels"][()]).all()
        if "host_index" in fa[f"synthetic/{s}"]:
            assert (fa[f"synthetic/{s}/host_index"][()] == fb[f"synthetic/{s}/host_index"][()]).all()
        worst = max(worst, float(np.abs(x.astype(np.float64) - y).max(initial=0)))
        same &= x.tobytes() == y.tobytes()
        n += len(x)
print(f"{n} items, max abs difference {worst:.3g}, bit-identical: {same}")
sys.exit(0 if worst <= float(sys.argv[3]) else 1)
