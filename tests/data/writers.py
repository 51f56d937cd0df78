"""Write small datasets in the real on-disk formats torchvision / datasets use."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """IDX: 0x00 0x00 <type 0x08=uint8> <ndim>, big-endian int32 dims, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)


def mnist_like(root: Path, folder: str, n_train=40, n_test=20, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, arr in arrays.items():
        write_idx(root / folder / "raw" / name, arr, gz=gz)
    return arrays


def cifar_like(root: Path, hundred: bool = False, per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True, exist_ok=True)
    names = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + [
        "test_batch"]
    written = {}
    for name in names:
        data = rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        entry = {"data": data, "batch_label": name}
        if hundred:
            entry["fine_labels"] = (np.arange(per_batch) % 100).tolist()
            entry["coarse_labels"] = (np.arange(per_batch) % 20).tolist()
        else:
            entry["labels"] = (np.arange(per_batch) % 10).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump(entry, fh, protocol=2)
        written[name] = entry
    return written


def omniglot_like(root: Path, alphabets=2, chars=3, drawings=4, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for a in range(alphabets):
        for c in range(chars):
            base = root / "omniglot-py" / "images_background"
            d = base / f"Alphabet_{a}" / f"character{c + 1:02d}"
            d.mkdir(parents=True, exist_ok=True)
            for k in range(drawings):
                pix = rng.random((105, 105)) > 0.1  # mostly white, black strokes
                Image.fromarray(pix).convert("1").save(d / f"{a:02d}{c:02d}_{k + 1:02d}.png")
