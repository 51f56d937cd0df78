"""FOT's maths against second implementations written here from the definitions.

Projection (FedProject, ``Delta - Delta U U^T``), the energy-threshold basis (GPSE with GPM's
criterion) against numpy's SVD, the growth of the basis across tasks, and the client's
representation factors against an explicit im2col (GPM's loop) and ``X X^T``.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional

from fedsim import wire
from fedsim.client.plugins.orthogonal import representation_factor, task_representation
from strategies.subspace import energy_rank, extend_basis, project_update, projected_layers


def orthonormal(rng, d: int, k: int) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(d, k)))[0]


def decaying(rng, d: int, n: int, rate: float = 0.7) -> np.ndarray:
    """A d x n matrix with singular values rate^j (a clear energy profile)."""
    u, v = orthonormal(rng, d, min(d, n)), orthonormal(rng, n, min(d, n))
    return u @ np.diag(rate ** np.arange(min(d, n))) @ v.T


def gpm_basis(a: np.ndarray, eps: float, old: np.ndarray | None = None) -> np.ndarray:
    """GPM (Saha et al. 2021, Sec. 4) written out: residual SVD, energy criterion, append."""
    total = np.linalg.norm(a) ** 2
    r = a if old is None else a - old @ old.T @ a
    u, s, _ = np.linalg.svd(r, full_matrices=False)
    covered = total - np.linalg.norm(r) ** 2
    k = 0
    while covered + np.sum(s[:k] ** 2) < eps * total:
        k += 1
    new = u[:, :k]
    return new if old is None else np.concatenate([old, new], axis=1)


def projector(u: np.ndarray) -> np.ndarray:
    return u @ u.T


def test_projected_update_has_no_component_in_the_basis():
    rng = np.random.default_rng(0)
    u = orthonormal(rng, 12, 5)
    delta = rng.normal(size=(7, 12)).astype(np.float32)
    out = project_update(delta, u)
    assert np.abs(out @ u).max() < 1e-5
    # second implementation: right-multiply by the complement's projector I - U U^T
    np.testing.assert_allclose(out, delta @ (np.eye(12) - u @ u.T), atol=1e-5)
    assert np.abs(delta @ u).max() > 0.1  # the input had a component to remove


def test_conv_projection_leaves_the_output_on_old_inputs_unchanged():
    """Unfold order = weight.view(out, -1) order: a projected kernel is blind to old patches."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    patches = functional.unfold(x, 3, padding=1)[0]  # (27, 25) -> rank 25 < 27
    basis = np.linalg.qr(patches.numpy())[0]
    delta = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    before = functional.conv2d(x, delta, padding=1)
    after = functional.conv2d(x, torch.from_numpy(project_update(delta.numpy(), basis)),
                              padding=1)
    assert before.abs().max() > 0.1
    assert after.abs().max() < 1e-9


def test_energy_threshold_basis_matches_numpy_svd():
    rng = np.random.default_rng(1)
    a1, a2 = decaying(rng, 20, 9), decaying(rng, 20, 14, rate=0.8)
    a = np.concatenate([a1, a2], axis=1)
    for eps in (0.5, 0.9, 0.98):
        ours = extend_basis(None, [a1, a2], eps)
        u, s, _ = np.linalg.svd(a, full_matrices=False)
        k = int(np.searchsorted(np.cumsum(s**2) / np.sum(s**2), eps) + 1)
        assert ours.shape == (20, k)
        np.testing.assert_allclose(projector(ours), projector(u[:, :k]), atol=1e-8)


def test_factors_give_the_basis_of_the_stacked_activations():
    """Clients send B_i = U_i S_i; the server's basis equals the SVD of [A_1 A_2] itself."""
    rng = np.random.default_rng(2)
    a1, a2 = decaying(rng, 16, 40), decaying(rng, 16, 7)
    b1, b2 = (representation_factor(torch.from_numpy(a))[0] for a in (a1, a2))
    np.testing.assert_allclose(b1 @ b1.T, a1 @ a1.T, atol=1e-5)
    ours = extend_basis(None, [b1, b2], 0.95)
    ref = gpm_basis(np.concatenate([a1, a2], axis=1), 0.95)
    np.testing.assert_allclose(projector(ours), projector(ref), atol=1e-5)


def test_basis_grows_across_tasks_and_stays_orthonormal():
    rng = np.random.default_rng(3)
    basis, widths = None, []
    for _ in range(4):
        a = decaying(rng, 24, 10)
        ref = gpm_basis(a, 0.9, basis)
        new = extend_basis(basis, [a], 0.9)
        np.testing.assert_allclose(projector(new), projector(ref), atol=1e-8)
        np.testing.assert_allclose(new.T @ new, np.eye(new.shape[1]), atol=1e-10)
        if basis is not None:  # the old span is kept
            np.testing.assert_allclose(projector(new) @ basis, basis, atol=1e-10)
        basis = new
        widths.append(basis.shape[1])
    assert widths == sorted(widths) and widths[-1] > widths[0]
    assert widths[-1] <= 24


def test_energy_rank_counts_what_the_old_basis_covers():
    s = np.array([2.0, 1.0, 0.5])
    assert energy_rank(s, covered=0.0, total=5.25, threshold=0.9) == 2  # 4+1 >= 4.725
    assert energy_rank(s, covered=4.0, total=9.25, threshold=0.9) == 2  # 4+4+1 >= 8.325
    assert energy_rank(s, covered=4.0, total=9.25, threshold=0.99) == 3  # 9 < 9.1575 <= 9.25
    assert energy_rank(s, covered=9.0, total=9.25, threshold=0.9) == 0  # already covered


def im2col(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """GPM's explicit loop: one column per (example, output position), (C, kh, kw) order."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = x.shape
    cols = []
    for e in range(n):
        for i in range(0, h - k + 1, stride):
            for j in range(0, w - k + 1, stride):
                cols.append(x[e, :, i : i + k, j : j + k].reshape(-1))
    return np.stack(cols, axis=1)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        self.fc = nn.Linear(3 * 3 * 3, 5)
        self.head = nn.Linear(5, 4)

    def forward(self, x):
        return self.head(torch.relu(self.fc(torch.relu(self.conv(x)).flatten(1))))


def test_client_factors_match_im2col_and_linear_inputs():
    torch.manual_seed(0)
    model = Tiny().double()
    x = np.random.default_rng(4).normal(size=(6, 2, 6, 6))
    layers = projected_layers(model, head=True)
    assert layers == {"conv": ("conv", 18), "fc": ("linear", 27), "head": ("linear", 5)}
    assert "head" not in projected_layers(model, head=False)
    got = task_representation(model, x, layers, chunk=4)  # two chunks
    cols = im2col(x, 3, 2, 1)  # 18 x 54: more columns than rows -> the Gram path
    np.testing.assert_allclose(got["conv"] @ got["conv"].T, cols @ cols.T, rtol=1e-4)
    with torch.no_grad():
        xt = torch.from_numpy(x)
        fc_in = torch.relu(model.conv(xt)).flatten(1).numpy()  # 6 x 27: the SVD path
        head_in = torch.relu(model.fc(torch.from_numpy(fc_in))).numpy()
    np.testing.assert_allclose(got["fc"] @ got["fc"].T, fc_in.T @ fc_in, atol=1e-4)
    np.testing.assert_allclose(got["head"] @ got["head"].T, head_in.T @ head_in, atol=1e-4)
    assert got["fc"].shape[1] <= 6


def test_grouped_convolutions_are_refused():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="groups=2"):
        projected_layers(model, head=True)


def test_capped_factor_is_the_best_rank_k_part_and_reports_the_dropped_energy():
    """``max_rank``: the top-k columns U_k S_k (Eckart-Young) and tail = sum_{j>=k} s_j^2."""
    rng = np.random.default_rng(5)
    for d, n, k in [(16, 40, 3), (12, 5, 2), (20, 20, 7)]:
        a = decaying(rng, d, n, rate=0.8)
        full, tail0 = representation_factor(torch.from_numpy(a))
        got, tail = representation_factor(torch.from_numpy(a), max_rank=k)
        s = np.linalg.svd(a, compute_uv=False)
        assert tail0 == 0.0 and got.shape == (d, k)
        assert tail == pytest.approx(float(np.sum(s[k:] ** 2)), rel=1e-6)
        w, v = np.linalg.eigh(a @ a.T)  # the best rank-k approximation of A A^T, by hand
        top = np.argsort(w)[::-1][:k]
        best = (v[:, top] * w[top]) @ v[:, top].T
        np.testing.assert_allclose(got @ got.T, best, atol=1e-5)
        np.testing.assert_allclose(got, full[:, :k])
        same, none = representation_factor(torch.from_numpy(a), max_rank=full.shape[1])
        np.testing.assert_array_equal(same, full)  # a cap at the rank changes nothing
        assert none == 0.0


def test_tail_energy_counts_in_the_total_and_is_never_covered():
    """extend_basis with capped factors against GPM's criterion written here with the whole
    task energy ||A||^2 in the denominator and only the sent directions available."""
    rng = np.random.default_rng(6)
    old = None
    for _ in range(3):
        mats, tails, whole = [], 0.0, 0.0
        for n in (30, 9):
            a = decaying(rng, 18, n, rate=0.85)
            b, t = representation_factor(torch.from_numpy(a), max_rank=4)
            mats.append(b.astype(np.float64))
            tails += t
            whole += float(np.sum(a * a))
        b = np.concatenate(mats, axis=1)
        sent = float(np.sum(b * b))
        assert sent + tails == pytest.approx(whole, rel=1e-5)
        r = b if old is None else b - old @ old.T @ b
        u, s, _ = np.linalg.svd(r, full_matrices=False)
        covered, k = sent - np.linalg.norm(r) ** 2, 0
        while k < len(s) and covered + np.sum(s[:k] ** 2) < 0.9 * whole:
            k += 1
        k = min(k, 18 - (0 if old is None else old.shape[1]))
        ref = u[:, :k] if old is None else np.concatenate([old, u[:, :k]], axis=1)
        new = extend_basis(old, mats, 0.9, tails)
        np.testing.assert_allclose(projector(new), projector(np.linalg.qr(ref)[0]), atol=1e-7)
        without = extend_basis(old, mats, 0.9)  # the tail ignored: a smaller basis
        assert without.shape[1] <= new.shape[1]
        old = new


def test_client_factors_capped_per_layer_with_tails_only_where_cut():
    torch.manual_seed(0)
    model = Tiny().double()
    x = np.random.default_rng(4).normal(size=(6, 2, 6, 6))
    layers = projected_layers(model, head=True)
    full = task_representation(model, x, layers, chunk=4)
    got = task_representation(model, x, layers, chunk=4, max_rank=5)
    for name, b in full.items():
        assert got[name].shape == (b.shape[0], min(5, b.shape[1]))
        cut = b.shape[1] > 5
        assert (name + wire.FOT_TAIL in got) == cut
        if cut:
            dropped = float(np.sum(b.astype(np.float64) ** 2)) - float(
                np.sum(got[name].astype(np.float64) ** 2))
            assert got[name + wire.FOT_TAIL][0] == pytest.approx(dropped, rel=1e-4)
