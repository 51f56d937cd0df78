"""FedProto's prototype regulariser as a plugin of the local training loop."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from fedsim import wire
from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin


class PrototypeLoss(BasePlugin):
    """Adds ``lambda * MSE(f(x), P_y)`` to every batch loss (FedProto's local objective).

    Tan et al., "FedProto: Federated Prototype Learning across Heterogeneous Clients"
    (AAAI 2022), Eq. (7)-(8): ``L = L_S(F(x), y) + lambda * sum_j ||C_i^j - C-bar^j||``. As in the
    official code (``update_weights_het``) the distance is per *sample*: ``nn.MSELoss`` between
    the embedding ``f(x_i)`` and the global prototype of its label, averaged over batch x dims;
    a sample whose class has no global prototype contributes 0 but still counts in the mean.
    Embeddings are recomputed here with ``model.embed`` (the loop's logits are left as they are).

    Parameters
    ----------
    means : numpy.ndarray or callable
        Global prototypes ``[C, d]``, or a function returning the current ``[C, d]`` tensor of
        *learnable* prototypes (PILoRA's prototype loss ``||f(x) - m_y||^2``, which also pulls
        the prototype towards the features).
    counts : numpy.ndarray
        ``[C]``; classes with count 0 have no global prototype.
    lam : float
        Weight lambda (>= 0); FedProto uses 1 on MNIST/FEMNIST and 0.1 on CIFAR-10.
    """

    def __init__(
        self, means: np.ndarray | Callable[[], torch.Tensor], counts: np.ndarray, lam: float
    ) -> None:
        if lam < 0:
            raise ValueError(f"proto.lambda must be >= 0, got {lam}")
        self.lam = float(lam)
        self._live = means if callable(means) else None
        fixed = None if callable(means) else np.asarray(means)
        self.means = None if fixed is None else torch.as_tensor(fixed, dtype=torch.float32)
        self.known = torch.as_tensor(np.asarray(counts) > 0)
        self._sum, self._steps = 0.0, 0

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return lambda times the mean squared distance to the labels' global prototypes."""
        if self.lam == 0.0 or not bool(self.known.any()):
            return None
        z = model.embed(info.inputs)
        means = self._live() if self._live is not None else self.means
        if means.device != z.device:  # the bank arrives on the CPU (numpy)
            self.means = means = means.to(z.device)
        if self.known.device != z.device:
            self.known = self.known.to(z.device)
        target = means[info.targets]
        target = torch.where(self.known[info.targets][:, None], target, z.detach())
        term = nn.functional.mse_loss(z, target)
        self._sum += float(term.detach())
        self._steps += 1
        return self.lam * term

    def metrics(self) -> dict[str, float]:
        """Report the mean distance term (before lambda)."""
        return {wire.PROTO_DISTANCE: self._sum / self._steps} if self._steps else {}
