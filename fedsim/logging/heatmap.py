"""Accuracy-matrix heatmaps drawn with Pillow: a few milliseconds an image, no matplotlib.

A run writes an image of an accuracy matrix at every task-boundary round (the matrix changed)
and at the end (:class:`fedsim.server.reporter.Reporter`). Drawn with matplotlib (figure,
``tight_layout``, a text artist per cell) each image cost ~0.1-0.2 s of the server thread and
the first one ~0.5 s more to import pyplot, about half of a small run's reporting; this draws
the same content - value per cell (two decimals), viridis colours on [0, 1], title, axis labels,
row and column ticks, a colour bar - directly into a pixel array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

#: viridis sampled at 17 points of [0, 1] (matplotlib's table, rounded to bytes); the colour of
#: a value is the linear interpolation between its two neighbours (within 6/255 of the table)
VIRIDIS = np.array(
    [
        (68, 1, 84), (72, 24, 106), (71, 45, 123), (66, 64, 134), (59, 82, 139),
        (51, 99, 141), (44, 114, 142), (38, 130, 142), (33, 145, 140), (31, 160, 136),
        (40, 174, 128), (63, 188, 115), (94, 201, 98), (132, 212, 75), (173, 220, 48),
        (216, 226, 25), (253, 231, 37),
    ],
    dtype=float,
)  # fmt: skip
BACKGROUND = (255, 255, 255)  # and the colour of a cell without a value (NaN)
INK = (0, 0, 0)
ANNOTATE_MAX_CELLS = 400  # larger matrices are drawn without per-cell values
TICKS_MAX = 40  # more rows/columns than this: label every k-th one


def colours(values: np.ndarray) -> np.ndarray:
    """Viridis RGB (uint8) of ``values`` clipped to [0, 1]; NaN -> :data:`BACKGROUND`."""
    v = np.asarray(values, dtype=float)
    nan = np.isnan(v)
    pos = np.clip(np.where(nan, 0.0, v), 0.0, 1.0) * (len(VIRIDIS) - 1)
    lo = np.minimum(np.floor(pos).astype(int), len(VIRIDIS) - 2)
    frac = (pos - lo)[..., None]
    rgb = VIRIDIS[lo] * (1.0 - frac) + VIRIDIS[lo + 1] * frac
    rgb[nan] = BACKGROUND
    return np.rint(rgb).astype(np.uint8)


@lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's FreeType font, scalable
    except (TypeError, OSError, ImportError):  # no FreeType: Pillow's bitmap font
        return ImageFont.load_default()


def _text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


def _every(n: int) -> int:
    return 1 if n <= TICKS_MAX else math.ceil(n / (TICKS_MAX // 2))


def _cell_size(rows: int, cols: int, annotate: bool) -> tuple[int, int]:
    if annotate:
        return 52, 26
    return max(4, min(52, 800 // max(cols, 1))), max(3, min(26, 600 // max(rows, 1)))


def matrix_image(
    matrix: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    row_labels: Sequence[object] | None = None,
) -> np.ndarray:
    """Draw ``matrix`` (values in [0, 1], NaN = no value) as an annotated heatmap.

    Rows are labelled with ``row_labels`` (default 0..R-1), columns 0..C-1; every cell of a
    matrix of at most :data:`ANNOTATE_MAX_CELLS` cells carries its value to two decimals
    (white on dark colours, below 0.6, black above). Returns an HWC ``uint8`` RGB array.
    """
    from PIL import Image, ImageDraw

    m = np.atleast_2d(np.asarray(matrix, dtype=float))
    rows, cols = m.shape
    annotate = m.size <= ANNOTATE_MAX_CELLS
    cw, ch = _cell_size(rows, cols, annotate)
    font, small = _font(13), _font(11)
    labels = [str(r) for r in (row_labels if row_labels is not None else range(rows))]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max([_text_size(probe, s, small)[0] for s in labels] + [0])
    left, top = 24 + label_w + 6, 30
    grid_w, grid_h = cols * cw, rows * ch
    text_w = max(_text_size(probe, t, font)[0] for t in (title, xlabel))
    width = max(left + grid_w + 64, text_w + 20)
    height = max(top + grid_h + 44, _text_size(probe, ylabel, font)[0] + 16)
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    cells = colours(m).repeat(ch, axis=0).repeat(cw, axis=1)
    img.paste(Image.fromarray(cells, "RGB"), (left, top))
    draw.rectangle((left - 1, top - 1, left + grid_w, top + grid_h), outline=INK)
    _cell_text(draw, m, (left, top, cw, ch), small, annotate, labels)
    draw.text((width // 2, 6), title, fill=INK, font=font, anchor="mt")
    xlabel_x = max(left + grid_w // 2, text_w // 2 + 10)
    draw.text((xlabel_x, height - 5), xlabel, fill=INK, font=font, anchor="mb")
    _vertical_label(img, ylabel, font, centre_y=top + grid_h // 2)
    _colour_bar(img, draw, x=left + grid_w + 12, top=top, height=max(grid_h, 40), font=small)
    return np.asarray(img, dtype=np.uint8)


def _cell_text(draw, m: np.ndarray, grid, font, annotate: bool, labels: list[str]) -> None:
    """Each cell's value (when ``annotate``), row labels on the left, column ids below."""
    left, top, cw, ch = grid
    rows, cols = m.shape
    if annotate:
        for (i, j), v in np.ndenumerate(m):
            if not math.isnan(v):
                colour = (255, 255, 255) if v < 0.6 else INK
                draw.text((left + j * cw + cw // 2, top + i * ch + ch // 2), f"{v:.2f}",
                          fill=colour, font=font, anchor="mm")  # fmt: skip
    for i in range(0, rows, _every(rows)):
        draw.text((left - 4, top + i * ch + ch // 2), labels[i], fill=INK, font=font, anchor="rm")
    for j in range(0, cols, _every(cols)):
        draw.text((left + j * cw + cw // 2, top + rows * ch + 3), str(j), fill=INK, font=font,
                  anchor="mt")  # fmt: skip


def _vertical_label(img, text: str, font, centre_y: int) -> None:
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    w, h = _text_size(probe, text, font)
    strip = Image.new("RGB", (w + 4, h + 6), BACKGROUND)
    ImageDraw.Draw(strip).text((2, 1), text, fill=INK, font=font)
    strip = strip.rotate(90, expand=True)
    y = max(0, min(img.height - strip.height, centre_y - strip.height // 2))
    img.paste(strip, (2, y))


def _colour_bar(img, draw, *, x: int, top: int, height: int, font) -> None:
    from PIL import Image

    height = min(height, img.height - top - 2)
    ramp = colours(np.linspace(1.0, 0.0, height))[:, None, :].repeat(12, axis=1)
    img.paste(Image.fromarray(np.ascontiguousarray(ramp), "RGB"), (x, top))
    draw.rectangle((x - 1, top - 1, x + 12, top + height), outline=INK)
    for v in (0.0, 0.5, 1.0):
        y = top + round((1.0 - v) * (height - 1))
        draw.text((x + 16, y), f"{v:.1f}", fill=INK, font=font, anchor="lm")
