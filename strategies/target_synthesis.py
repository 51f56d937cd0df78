"""TARGET's server-side data-free model inversion: a generator trained against the old model.

Zhang et al., "TARGET: Federated Class-Continual Learning via Exemplar-Free Distillation",
ICCV 2023, Sec. 4 ("server side: data generation"); the exact forms follow the official code
(``zj-jayzhang/Federated-Class-Continual-Learning``, ``methods/target.py``:
``GlobalSynthesizer``, ``DeepInversionHook``, ``kldiv``). The generator ``G`` maps noise
``z ~ N(0, I)`` to inputs ``x_hat = G(z)``; with labels ``y_hat`` drawn uniformly from the old
classes it minimises

    L_gen = lambda_oh L_CE + lambda_bn L_BN + lambda_adv L_adv

* ``L_CE = CE(T(x_hat), y_hat)`` - the old (teacher) model must classify the samples as their
  labels (:func:`inversion_ce`);
* ``L_BN = sum_l ||mu_l(x_hat) - mu_l||_2 + ||sigma^2_l(x_hat) - sigma^2_l||_2`` over the
  teacher's BatchNorm layers ``l``: batch statistics of each layer's input against its running
  statistics (DeepInversion, Yin et al., CVPR 2020; :func:`bn_statistics_loss`);
* ``L_adv = - mean_i w_i KL(T(x_hat_i) || S(x_hat_i))``, ``w_i = 1[argmax S = argmax T]``:
  samples on which a student ``S`` (distilled from the teacher on the synthetic set so far)
  still agrees with the teacher are pushed to where they disagree (:func:`adversarial_kl`).

The student is trained with ``KL(T / tau || S / tau) tau^2`` (:func:`student_kd`). Logits are
restricted to the old classes throughout (the official old model has exactly those outputs).
Each synthesis round keeps the batch with the lowest ``L_gen`` of its inner steps; the
generator is meta-updated across rounds (first-order MAML, the official ``is_maml=1``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


@dataclass(frozen=True)
class SynthesisSettings:
    """Knobs of one synthesis (official CIFAR-100 values in brackets; scaled down for CPU).

    Attributes
    ----------
    rounds : int
        Synthesis rounds; each adds one batch to the set [10].
    batch : int
        Samples per round [256]; the set has ``rounds * batch`` samples.
    steps : int
        Inner generator steps per round [10].
    warmup : int
        Rounds before the adversarial term and the student start [20].
    student_steps : int
        Student KD steps per round after the warm-up [400].
    nz, width : int
        Noise dimension [256] and generator width ``ngf`` [64].
    lr_g, lr_z : float
        Adam learning rates of the generator [0.002] and of the noise [0.01].
    bn, oh, adv : float
        ``lambda_bn`` [10], ``lambda_oh`` [0.5], ``lambda_adv`` [1.0].
    student_temperature : float
        ``tau`` of the student's KD [20].
    """

    rounds: int = 4
    batch: int = 64
    steps: int = 10
    warmup: int = 1
    student_steps: int = 10
    nz: int = 64
    width: int = 16
    lr_g: float = 0.002
    lr_z: float = 0.01
    bn: float = 10.0
    oh: float = 0.5
    adv: float = 1.0
    student_temperature: float = 20.0


class ConvGenerator(nn.Module):
    """The official TARGET generator, for ``(C, H, W)`` inputs with ``H, W`` divisible by 4.

    Linear -> BN -> 2 x (upsample, conv, BN, LeakyReLU) -> conv -> sigmoid.
    """

    def __init__(self, nz: int, width: int, shape: Sequence[int]) -> None:
        super().__init__()
        c, h, w = (int(s) for s in shape)
        self.init = (h // 4, w // 4)
        self.l1 = nn.Linear(nz, 2 * width * self.init[0] * self.init[1])
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(2 * width),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, c, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return a batch of inputs in ``[0, 1]``."""
        out = self.l1(z).view(z.shape[0], -1, *self.init)
        return self.conv_blocks(out)


class DenseGenerator(nn.Module):
    """Linear -> BN -> LeakyReLU -> linear -> sigmoid, reshaped: inputs of any other shape."""

    def __init__(self, nz: int, width: int, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        size = 1
        for s in self.shape:
            size *= s
        self.net = nn.Sequential(
            nn.Linear(nz, 8 * width),
            nn.BatchNorm1d(8 * width),
            nn.LeakyReLU(0.2),
            nn.Linear(8 * width, size),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return a batch of inputs in ``[0, 1]``."""
        return self.net(z).view(z.shape[0], *self.shape)


def make_generator(nz: int, width: int, shape: Sequence[int]) -> nn.Module:
    """The convolutional generator where the input shape allows it, else the dense one."""
    if len(shape) == 3 and int(shape[1]) % 4 == 0 and int(shape[2]) % 4 == 0:
        return ConvGenerator(nz, width, shape)
    return DenseGenerator(nz, width, shape)


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The model's BatchNorm layers (1d, 2d, 3d), in module order."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class BNStatistics:
    """Forward hooks on a model's BatchNorm layers recording ``L_BN`` of the last forward.

    Use as a context manager; :attr:`loss` is the sum over layers of
    ``||running_mean - mean(x)||_2 + ||running_var - var(x)||_2`` of each layer's input
    ``x`` (biased variance over every dimension but the channel one).
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = batchnorm_layers(model)
        self.terms: list[torch.Tensor] = []
        self._handles: list = []

    def __enter__(self) -> BNStatistics:
        self._handles = [m.register_forward_hook(self._hook) for m in self.layers]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], _out) -> None:
        self.terms.append(bn_statistics_loss(inputs[0], module.running_mean, module.running_var))

    def pop(self) -> torch.Tensor:
        """``L_BN`` of the forwards since the last call (0 without BatchNorm layers)."""
        total = sum(self.terms) if self.terms else torch.zeros(())
        self.terms = []
        return total


def bn_statistics_loss(
    x: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor
) -> torch.Tensor:
    """One layer's ``||mu - mean(x)||_2 + ||sigma^2 - var(x)||_2`` (channel dimension 1)."""
    dims = [d for d in range(x.dim()) if d != 1]
    mean = x.mean(dim=dims)
    var = x.var(dim=dims, unbiased=False)
    return torch.norm(running_var - var, 2) + torch.norm(running_mean - mean, 2)


def inversion_ce(teacher_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``L_CE``: cross-entropy of the teacher's (old-class) logits with the drawn labels."""
    return F.cross_entropy(teacher_logits, targets)


def adversarial_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """``L_adv = -mean_i 1[argmax S_i = argmax T_i] KL(softmax T_i || softmax S_i)`` (tau 1)."""
    log_s = F.log_softmax(student_logits, dim=1)
    p_t = F.softmax(teacher_logits, dim=1)
    kl = (p_t * (torch.log(p_t.clamp_min(1e-30)) - log_s)).sum(dim=1)
    agree = (student_logits.argmax(dim=1) == teacher_logits.argmax(dim=1)).float()
    return -(kl * agree).mean()


def student_kd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``KL(softmax(T / tau) || softmax(S / tau)) tau^2``, averaged over the batch."""
    log_s = F.log_softmax(student_logits / temperature, dim=1)
    p_t = F.softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_s, p_t, reduction="batchmean") * temperature**2


def _frozen(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def synthesize(
    teacher: nn.Module,
    student: nn.Module,
    classes: Sequence[int],
    shape: Sequence[int],
    settings: SynthesisSettings,
    generator: torch.Generator,
) -> torch.Tensor:
    """Invert ``teacher`` into ``settings.rounds * settings.batch`` inputs of ``shape``.

    Parameters
    ----------
    teacher : torch.nn.Module
        The old global model (frozen, evaluated in eval mode: BatchNorm uses running stats).
    student : torch.nn.Module
        A freshly initialised model of the same kind (the adversary; trained here).
    classes : Sequence[int]
        The old classes: labels are drawn from them and logits restricted to them.
    shape : Sequence[int]
        Shape of one input.
    settings : SynthesisSettings
        The knobs.
    generator : torch.Generator
        Source of every random draw here (noise, labels, student batches).

    Returns
    -------
    torch.Tensor
        The synthetic inputs (CPU, float32).
    """
    cols = torch.as_tensor(list(classes), dtype=torch.long)
    teacher = _frozen(teacher)
    with torch.random.fork_rng(devices=[]):  # the generator's init from ``generator`` too
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        gen = make_generator(settings.nz, settings.width, shape).train()
    meta = torch.optim.Adam(gen.parameters(), settings.lr_g * settings.steps, betas=(0.5, 0.999))
    opt_s = torch.optim.SGD(student.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-4)
    pool: list[torch.Tensor] = []
    with BNStatistics(teacher) as bn:
        for rnd in range(settings.rounds):
            adv = settings.adv if rnd >= settings.warmup else 0.0
            pool.append(_one_round(gen, meta, teacher, student, cols, bn, adv, settings, generator))
            if rnd >= settings.warmup and settings.student_steps > 0:
                _train_student(student, teacher, opt_s, torch.cat(pool), cols, settings, generator)
    return torch.cat(pool)


def _one_round(gen, meta, teacher, student, cols, bn, adv, settings, rng) -> torch.Tensor:
    """One synthesis round; returns the batch of the lowest ``L_gen``.

    A fast copy of the generator and fresh noise take ``steps`` Adam steps; the first-order
    MAML gradient of the fast copy updates the generator once at the end.
    """
    z = torch.randn(settings.batch, settings.nz, generator=rng).requires_grad_(True)
    targets = torch.randint(0, len(cols), (settings.batch,), generator=rng)
    fast = copy.deepcopy(gen)
    opt = torch.optim.Adam(
        [{"params": fast.parameters()}, {"params": [z], "lr": settings.lr_z}],
        lr=settings.lr_g,
        betas=(0.5, 0.999),
    )
    student.eval()
    meta.zero_grad(set_to_none=True)
    best, best_loss = None, float("inf")
    for _ in range(settings.steps):
        x = fast(z)
        bn.pop()
        t_out = teacher(x)[:, cols]
        loss = settings.bn * bn.pop() + settings.oh * inversion_ce(t_out, targets)
        if adv > 0:
            loss = loss + adv * adversarial_kl(student(x)[:, cols], t_out)
        value = float(loss.detach())
        if value < best_loss or best is None:
            best_loss, best = value, x.detach().clone()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p, fp in zip(gen.parameters(), fast.parameters(), strict=True):
            if fp.grad is not None:
                p.grad = fp.grad.clone() if p.grad is None else p.grad + fp.grad
        opt.step()
    meta.step()
    return best


def _train_student(student, teacher, opt, pool, cols, settings, rng) -> None:
    """``student_steps`` SGD steps of :func:`student_kd` on batches drawn from the pool."""
    student.train()
    for _ in range(settings.student_steps):
        idx = torch.randint(0, len(pool), (min(settings.batch, len(pool)),), generator=rng)
        x = pool[idx]
        with torch.no_grad():
            t_out = teacher(x)[:, cols]
        loss = student_kd(student(x)[:, cols], t_out, settings.student_temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    student.eval()
