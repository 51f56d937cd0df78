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
    b1, b2 = (representation_factor(torch.from_numpy(a)) for a in (a1, a2))
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
