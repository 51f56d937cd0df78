"""Omniglot in torchvision's on-disk layout (PNG folders), read with Pillow.

``<root>/omniglot-py/images_background/<alphabet>/<character>/*.png`` (964 characters) and
``.../images_evaluation/...`` (659 characters): what the official zips unpack to and what
``torchvision.datasets.Omniglot(root, download=True)`` uses. Every character is a class;
each class's drawings are split into train/test (stratified, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.data.local import check_fraction, root_dir, stratified_test_mask
from fedsim.errors import ConfigError, DataError

SUBSETS = {
    "background": ("images_background",),
    "evaluation": ("images_evaluation",),
    "all": ("images_background", "images_evaluation"),
}


@dataclass(frozen=True)
class OmniglotSource:
    """Omniglot characters as classes (grey images resized to ``image_size``).

    Parameters
    ----------
    root : str
        Directory given by the user (``data.root``).
    subset : str
        ``"background"``, ``"evaluation"`` or ``"all"``.
    image_size : int
        Side of the resized square images (105 keeps the originals).
    max_classes : int, optional
        Keep only the first ``max_classes`` characters (sorted by alphabet/character).
    test_fraction : float
        Share of each character's drawings held out for testing.
    split_seed : int
        Seed of the stratified split.
    invert : bool
        True: strokes are 1 and background 0 (the PNGs store black strokes on white).
    """

    root: str | None = None
    subset: str = "background"
    image_size: int = 28
    max_classes: int | None = None
    test_fraction: float = 0.25
    split_seed: int = 0
    invert: bool = True
    name: str = "omniglot"

    def __post_init__(self) -> None:
        if self.subset not in SUBSETS:
            raise ConfigError(
                "data.subset", f"must be one of {', '.join(SUBSETS)}, got '{self.subset}'"
            )
        if int(self.image_size) < 1:
            raise ConfigError("data.image_size", f"must be >= 1, got {self.image_size}")
        if self.max_classes is not None and int(self.max_classes) < 1:
            raise ConfigError("data.max_classes", f"must be >= 1 or null, got {self.max_classes}")
        check_fraction(self.test_fraction)

    def _characters(self, root: Path, what: str) -> list[Path]:
        chars = []
        for sub in SUBSETS[self.subset]:
            base = next((b for b in (root / "omniglot-py" / sub, root / sub) if b.is_dir()), None)
            if base is None:
                raise DataError(f"data.root: no {sub}/ under '{root}'; it must hold {what}")
            chars += sorted(c for a in sorted(base.iterdir()) if a.is_dir()
                            for c in a.iterdir() if c.is_dir())
        if self.max_classes is not None:
            chars = chars[: int(self.max_classes)]
        if not chars:
            raise DataError(f"data.root: no character folders under '{root}'; it must hold {what}")
        return chars

    def load(self) -> ArrayDataset:
        """Read and resize every drawing, then split each character's drawings."""
        from PIL import Image

        what = "omniglot-py/images_background/<alphabet>/<character>/*.png (torchvision layout)"
        root = root_dir(self.root, what)
        side = int(self.image_size)
        images, labels = [], []
        for label, char in enumerate(self._characters(root, what)):
            files = sorted(char.glob("*.png"))
            if len(files) < 2:
                raise DataError(f"data.root: '{char}' needs at least 2 PNG drawings")
            for f in files:
                with Image.open(f) as img:
                    grey = img.convert("L")
                    if grey.size != (side, side):
                        grey = grey.resize((side, side), Image.Resampling.BILINEAR)
                    images.append(np.asarray(grey, dtype=np.float32) / 255.0)
                labels.append(label)
        x = np.stack(images)[:, None]
        if self.invert:
            x = 1.0 - x
        y = np.asarray(labels, dtype=np.int64)
        test = stratified_test_mask(y, self.test_fraction, self.split_seed)
        return ArrayDataset(
            name=self.name,
            x_train=x[~test],
            y_train=y[~test],
            x_test=x[test],
            y_test=y[test],
            num_classes=int(y.max()) + 1,
            input_shape=(1, side, side),
        )
