"""Central differential privacy around any weights strategy: clip, aggregate, noise.

``CentralDP`` wraps a Flower strategy the way Flower's
``DifferentialPrivacyServerSideFixedClipping`` / ``...ServerSideAdaptiveClipping`` do
(``flwr.serverapp.strategy``): each reply's update ``w_k - w`` is clipped to L2 norm C on the
server, the wrapped strategy aggregates the clipped replies, and Gaussian noise of std
``z C / n`` is added to the aggregate (``n`` replies, uniform weights: the mean's
sensitivity is ``C / n``). McMahan et al. 2018 (DP-FedAvg); adaptive C from Andrew et al.
2021, Alg. 1: ``C <- C exp(-eta (b - gamma))`` with ``b`` the noisy fraction of updates
*not* clipped and ``gamma`` the target quantile; the noise ``z`` is split between the
update (``z_update``) and the count (``sigma_b``) per Thm. 1.

Why not Flower's wrappers themselves: they draw noise from numpy's global RNG (a run would
not equal its resume, DESIGN.md rule 7), they keep the clip norm in attributes the
checkpoint cannot see, and their adaptive update counts *clipped* updates where the paper
counts unclipped ones, so C shrinks when most updates are clipped (tested:
``tests/strategies/test_central_dp.py``). The clipping and the noise scale are the same
functions; a test checks the clipped aggregate against Flower's wrapper on the same replies.

Client-level ε is accounted as one Gaussian release per round without amplification by
sampling (q = 1, valid whatever the selection does; Flower's accounted mode makes the same
choice), or, with ``amplification``, as the sampled Gaussian mechanism with
``q = n / population`` (only valid when each round's cohort is a uniform sample of all
clients) (:mod:`fedsim.privacy.accountant`; reported when Opacus is installed).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedsim import wire
from fedsim.interfaces import PrivacySource, StrategyHooks, StrategyWrapper, strategy_hooks
from fedsim.privacy import accountant
from fedsim.privacy.gaussian import adaptive_noise, add_noise, clip_update, next_clip_norm
from fedsim.seeding import rng_for


class CentralDP(Strategy, StrategyHooks, StrategyWrapper, PrivacySource):
    """Server-side clipping and Gaussian noise around ``strategy`` (fixed or adaptive C).

    Parameters
    ----------
    strategy : Strategy
        The wrapped weights strategy (FedAvg, FedProx, FedAdam, ...).
    noise_multiplier : float
        z: noise std on the sum of clipped updates is ``z C`` (0: clipping only).
    clip_norm : float
        C (the initial C when ``adaptive``).
    population : int
        Number of clients (the sampling rate ``n / population`` with ``amplification``).
    delta : float
        δ of the reported ε.
    adaptive : bool
        Adapt C towards the ``target_quantile`` of update norms (Andrew et al. 2021).
    target_quantile, clip_lr, count_std : float, float, float or None
        γ, η_C and σ_b of Andrew et al. (σ_b default: clients per round / 20).
    expected_clients : float
        Clients per round for σ_b's default.
    uniform_weights : bool
        Give every reply weight 1 in the wrapped aggregation (the sensitivity ``C / n``
        holds only then); False keeps the strategy's ``num-examples`` weighting.
    amplification : bool
        Account each round at rate ``n / population`` instead of 1.
    seed : int
        Run seed: the noise of round t is a function of (seed, t).
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        noise_multiplier: float,
        clip_norm: float,
        population: int,
        delta: float = 1e-5,
        adaptive: bool = False,
        target_quantile: float = 0.5,
        clip_lr: float = 0.2,
        count_std: float | None = None,
        expected_clients: float = 1.0,
        uniform_weights: bool = True,
        amplification: bool = False,
        seed: int = 0,
    ) -> None:
        if noise_multiplier < 0:
            raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier}")
        if clip_norm <= 0:
            raise ValueError(f"clip_norm must be > 0, got {clip_norm}")
        if not 0 <= target_quantile <= 1:
            raise ValueError(f"target_quantile must be in [0, 1], got {target_quantile}")
        self.strategy = strategy
        self.hooks = strategy_hooks(strategy)
        self.z = float(noise_multiplier)
        self.clip = float(clip_norm)
        self.population = int(population)
        self.delta = float(delta)
        self.adaptive = bool(adaptive)
        self.gamma, self.eta = float(target_quantile), float(clip_lr)
        self.count_std, self.z_update = (
            adaptive_noise(self.z, expected_clients, count_std) if adaptive else (0.0, self.z)
        )
        self.uniform = bool(uniform_weights)
        self.amplification = bool(amplification)
        self.seed = int(seed)
        self.current: ArrayRecord = ArrayRecord()
        self.history: list[accountant.GaussianSteps] = []
        self.last: dict[str, float] = {}

    # --------------------------------------------------------------- Flower strategy hooks
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Remember the round's global arrays (the clipping reference); delegate."""
        self.current = arrays
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Clip every reply's update, aggregate with the wrapped strategy, add noise."""
        replies = [r for r in replies if not r.has_error()]
        if not replies:
            return None, None
        keys = list(self.current.keys())
        old = [self.current[k].numpy() for k in keys]
        clipped, used = 0, self.clip
        for reply in replies:
            rec = reply.content[wire.ARRAYS]
            new, was = clip_update([rec[k].numpy() for k in keys], old, used)
            clipped += int(was)
            reply.content[wire.ARRAYS] = ArrayRecord(
                {k: Array(np.asarray(v)) for k, v in zip(keys, new, strict=True)}
            )
            if self.uniform:
                metrics = dict(reply.content[wire.METRICS])
                reply.content[wire.METRICS] = MetricRecord({**metrics, wire.NUM_EXAMPLES: 1})
        n = len(replies)
        rng = rng_for(self.seed, "central-dp", server_round)
        fraction = clipped / n
        if self.adaptive:
            unclipped = (n - clipped + rng.normal(0.0, self.count_std)) / n
            self.clip = next_clip_norm(self.clip, unclipped, self.gamma, self.eta)
        aggregated, metrics = self.strategy.aggregate_train(server_round, replies)
        if aggregated is not None and self.z_update > 0:
            noisy = add_noise([aggregated[k].numpy() for k in keys], self.z_update * used / n, rng)
            pairs = zip(keys, noisy, strict=True)
            aggregated = ArrayRecord({k: Array(np.asarray(v)) for k, v in pairs})
        self.history = accountant.add_steps(
            self.history,
            accountant.GaussianSteps(self.z, n / self.population if self.amplification else 1.0, 1),
        )
        self.last = {"clip_norm": used, "noise_multiplier": self.z, "clipped_fraction": fraction}
        return aggregated, metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Delegate."""
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        """Delegate."""
        return self.strategy.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        """Delegate."""
        self.strategy.summary()

    # ------------------------------------------------------- fedsim hooks: the inner's
    def initial_arrays(self, exp, arrays: ArrayRecord) -> ArrayRecord:
        """Delegate to the wrapped strategy."""
        return self.hooks.initial_arrays(exp, arrays)

    def set_sink(self, sink) -> None:
        """Delegate to the wrapped strategy."""
        self.hooks.set_sink(sink)

    def tensorboard(self, sink, server_round: int) -> None:
        """Delegate to the wrapped strategy."""
        self.hooks.tensorboard(sink, server_round)

    def reference_arrays(self, global_arrays: ArrayRecord) -> ArrayRecord | None:
        """Delegate to the wrapped strategy."""
        return self.hooks.reference_arrays(global_arrays)

    def check_reply(self, reply: Message) -> str | None:
        """Delegate to the wrapped strategy."""
        return self.hooks.check_reply(reply)

    def central_accuracies(self, exp, arrays: ArrayRecord) -> np.ndarray:
        """Delegate to the wrapped strategy."""
        return self.hooks.central_accuracies(exp, arrays)

    # ---------------------------------------------------------------------- fedsim hooks
    @property
    def inner(self) -> Strategy:
        """The wrapped strategy."""
        return self.strategy

    def privacy_scalars(self) -> dict[str, float]:
        """The last round's C, z and clipped fraction, and ε so far (client level)."""
        out = dict(self.last)
        if self.z > 0 and accountant.opacus_installed():
            out["epsilon"] = accountant.epsilon(self.history, self.delta)
        return out

    def state_dict(self) -> dict:
        """The clip norm and the accounting history (data only)."""
        return {"clip": self.clip, **accountant.to_items(self.history), "last": dict(self.last)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.clip = float(state["clip"])
        self.history = accountant.from_items(state)
        self.last = {str(k): float(v) for k, v in dict(state.get("last", {})).items()}
