"""Data sets through the library's readers."""
import ctypes

import numpy as np

from ._lib import Dataset, check, enc, lib


def default_data_dir():
    """$SHENDU_DATA, else data/fashion-mnist, else Debian's /usr/share/datasets/fashion-mnist."""
    return lib.sd_data_default_dir().decode()


def load_mnist(data_dir=None, split="train"):
    """An MNIST-layout data set (IDX files, gzipped or not) -> (images uint8 (n, c, h, w), labels uint8 (n,))."""
    d = Dataset()
    check(lib.sd_dataset_load_mnist(enc(data_dir or default_data_dir()), enc(split), ctypes.byref(d)))
    try:
        images = np.ctypeslib.as_array(d.images, shape=(d.n * d.c * d.h * d.w,)).reshape(d.n, d.c, d.h, d.w).copy()
        labels = np.ctypeslib.as_array(d.labels, shape=(d.n,)).copy()
    finally:
        lib.sd_dataset_free(ctypes.byref(d))
    return images, labels
