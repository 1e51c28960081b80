"""The parameters of a fesf model.h5 as one float64 vector (in HDF5's name order)."""
import h5py
import numpy as np


def params(path):
    f, out = h5py.File(path), []
    f["params"].visititems(lambda n, o: out.append(o[()].ravel()) if isinstance(o, h5py.Dataset) else None)
    return np.concatenate(out).astype(np.float64)
