"""Accuracy-matrix heatmaps (fedsim.logging.heatmap): the colours, positions and values drawn
are the matrix's, found back in the pixels without knowing the layout."""

import numpy as np

from fedsim.logging.heatmap import BACKGROUND, VIRIDIS, colours, matrix_image

LABELS = {"title": "mean client accuracy matrix", "xlabel": "task j", "ylabel": "after task i"}


def _centre(img: np.ndarray, rgb) -> tuple[float, float]:
    """Median (row, col) of the pixels of exactly colour ``rgb`` (a cell dwarfs the colour bar)."""
    ys, xs = np.nonzero(np.all(img == np.asarray(rgb, dtype=np.uint8), axis=2))
    assert ys.size > 200, f"colour {rgb} not drawn as a cell"
    return float(np.median(ys)), float(np.median(xs))


def test_colours_are_viridis_on_0_1_and_background_for_nan():
    got = colours(np.array([0.0, 0.5, 1.0, np.nan, -3.0, 7.0]))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got[0], VIRIDIS[0])
    np.testing.assert_array_equal(got[1], VIRIDIS[len(VIRIDIS) // 2])
    np.testing.assert_array_equal(got[2], VIRIDIS[-1])
    np.testing.assert_array_equal(got[3], BACKGROUND)
    np.testing.assert_array_equal(got[4], VIRIDIS[0])  # clipped
    np.testing.assert_array_equal(got[5], VIRIDIS[-1])
    # between two anchors: linear interpolation
    mid = colours(np.array([0.5 / (len(VIRIDIS) - 1)]))[0]
    np.testing.assert_array_equal(mid, np.rint((VIRIDIS[0] + VIRIDIS[1]) / 2))


def test_cells_sit_in_matrix_order_with_their_colour_and_value_text():
    m = np.array([[0.1, 0.9], [0.45, np.nan]])
    img = matrix_image(m, **LABELS)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    c = {v: _centre(img, colours(np.array([v]))[0]) for v in (0.1, 0.9, 0.45)}
    (y00, x00), (y01, x01), (y10, x10) = c[0.1], c[0.9], c[0.45]
    assert abs(y00 - y01) < 3 and x01 > x00 + 20  # same row, next column
    assert abs(x00 - x10) < 3 and y10 > y00 + 10  # same column, next row
    assert np.all(img[int(y10), int(x01)] == BACKGROUND)  # NaN: no colour
    # the value is written in the cell: white on dark colours, black on bright ones
    def window(y, x):
        return img[int(y) - 6 : int(y) + 6, int(x) - 14 : int(x) + 14].astype(int)

    assert (window(y00, x00).sum(axis=2) > 700).sum() > 10
    assert (window(y01, x01).sum(axis=2) < 100).sum() > 10


def test_a_large_matrix_has_no_cell_text_and_row_labels_thin_out():
    m = np.tile(np.linspace(0.0, 1.0, 25), (30, 1))  # 750 cells > 400: no values drawn
    img = matrix_image(m, row_labels=list(range(1, 31)), **LABELS)
    y, x = _centre(img, colours(np.array([0.0]))[0])
    cell = img[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2]
    assert np.all(cell == colours(np.array([0.0]))[0])


def test_a_one_by_one_matrix_draws():
    img = matrix_image(np.array([[0.5]]), **LABELS)
    _centre(img, colours(np.array([0.5]))[0])
