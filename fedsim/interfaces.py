"""The extension points of fedsim, declared in one place (DESIGN.md rule 2).

A method is a strategy (server half) plus, where it needs one, a client learner and loop
plugins; cross-cutting concerns plug into any strategy. Each extension point is one class
here, and the engine calls only the methods declared on it:

=========================  ======================================  =========================
extension point            interface                               built from
=========================  ======================================  =========================
strategy (required hooks)  Flower's ``flwr.serverapp.strategy.Strategy`` ``configs/strategy``
strategy (fedsim hooks)    :class:`StrategyHooks` (defaults)       the same object
client selection           :class:`ClientSelection` (ABC)          ``configs/selection``
learning-rate controller   :class:`LRController` (ABC)             ``configs/lr``
curriculum                 :class:`Curriculum` (Protocol)          ``configs/curriculum``
client learner             :class:`ClientLearner` (Protocol)       ``strategy.client_learner``
training-loop plugin       :class:`LoopPlugin` / :class:`BasePlugin`  assembled on the client
=========================  ======================================  =========================

Optional hooks have defaults: a fedsim strategy subclasses Flower's ``FedAvg`` (or
``Strategy``) *and* :class:`StrategyHooks`, overriding the hooks it needs; a Flower strategy
used as it is (``_target_: flwr.serverapp.strategy.FedAvg``) gets the defaults through
:func:`strategy_hooks`. ``docs/extending.md`` shows a complete example.

Only the standard library is imported at run time: every layer may depend on this module.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fedsim.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from flwr.app import ArrayRecord, ConfigRecord, Message
    from torch import nn

    from fedsim.client.state import ClientState, EvalReply, TrainReply
    from fedsim.client.training_loop import StepInfo
    from fedsim.experiment import Experiment
    from fedsim.logging.tensorboard import TensorBoardSink
    from scenarios.types import ScenarioPlan


# ------------------------------------------------------------------------------------- server
class StrategyHooks:
    """fedsim's optional strategy hooks, each with a do-nothing default.

    The round loop calls them around Flower's own hooks (``configure_train``,
    ``aggregate_train``, ``configure_evaluate``, ``aggregate_evaluate``). A strategy that
    needs one subclasses this class next to Flower's, e.g. ``class FedProto(FedAvg,
    StrategyHooks)``, and overrides it.
    """

    def check_experiment(self, exp: Experiment) -> None:
        """Refuse (:class:`~fedsim.errors.ConfigError`) an experiment it cannot honour.

        E.g. a scenario kind or a model; called while validating, before the run. Default:
        accept.
        """

    def initial_arrays(self, exp: Experiment, arrays: ArrayRecord) -> ArrayRecord:
        """Return the global arrays of round 0 (a prototype bank, adapters); default as built."""
        return arrays

    def set_sink(self, sink: TensorBoardSink) -> None:
        """Receive the run's TensorBoard sink for strategy-specific output; default ignore."""

    def tensorboard(self, sink: TensorBoardSink, server_round: int) -> None:
        """Write the strategy's own scalars after each round's report; default nothing."""

    def reference_arrays(self, global_arrays: ArrayRecord) -> ArrayRecord | None:
        """The arrays a train reply must match key for key (None: the strategy checks).

        Called before each reply is checked; the default is the global arrays.
        """
        return global_arrays

    def summary_items(self) -> dict[str, Any]:
        """JSON-ready items for ``summary.json`` under ``strategy`` (e.g. FOT's basis sizes).

        Called once after the last round; the default (none) adds nothing.
        """
        return {}

    def side_records(self) -> tuple[str, ...]:
        """Names of ArrayRecords a train reply may carry beside the update; default none.

        The generic checks accept them; the strategy checks their content in
        :meth:`check_reply` and takes them out before Flower's aggregation (FOT's
        representation factors).
        """
        return ()

    def check_reply(self, reply: Message) -> str | None:
        """Why ``reply`` cannot be aggregated (naming the client and key), or None if it can.

        Runs after the generic checks of :mod:`fedsim.server.reply_checks`; default None.
        """
        return None

    def central_accuracies(self, exp: Experiment, arrays: ArrayRecord) -> np.ndarray:
        """Score the global model on each global task's test split (the central view)."""
        return score_global_model(exp, arrays)


_DEFAULT_HOOKS = StrategyHooks()


class StrategyWrapper(ABC):
    """A strategy that wraps another one (central DP) and keeps state of its own.

    The checkpoint holds both: :meth:`state_dict` for the wrapper, and the wrapped
    strategy's state (``inner``) the way any strategy's is captured
    (:mod:`fedsim.server.strategy_state`).
    """

    @property
    @abstractmethod
    def inner(self) -> object:
        """The wrapped strategy."""

    @abstractmethod
    def state_dict(self) -> dict:
        """The wrapper's own evolving state (data only)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` into a freshly built wrapper."""


class PrivacySource(ABC):
    """A server-side component that reports its privacy scalars after each aggregation."""

    @abstractmethod
    def privacy_scalars(self) -> dict[str, float]:
        """``clip_norm``, ``noise_multiplier``, ``clipped_fraction``, ``epsilon`` (if known)."""


def strategy_hooks(strategy: object) -> StrategyHooks:
    """The fedsim hooks of ``strategy``: itself when it declares them, else the defaults."""
    return strategy if isinstance(strategy, StrategyHooks) else _DEFAULT_HOOKS


def score_global_model(exp: Experiment, arrays: ArrayRecord) -> np.ndarray:
    """Accuracy of the model holding ``arrays`` on each global task's test split."""
    model = exp.make_model()
    model.load_state_dict(arrays.to_torch_state_dict())
    return exp.task_accuracies(model)


class ClientSelection(ABC):
    """Which of a round's active clients train (``configs/selection``).

    Construction contract: ``Selection(fraction=, min_clients=, max_clients=, seed=)`` from
    ``federation.*`` plus its own config keys. Deterministic: a function of (seed, round)
    and of its checkpointable state.
    """

    @abstractmethod
    def select(self, server_round: int, active: Sequence[int]) -> list[int]:
        """Return the sorted cohort of ``server_round`` among ``active`` client ids.

        ``active`` is sorted; it may be a ``range`` (a lazy plan whose every client is active:
        avoid turning it into a list when the federation is huge).
        """

    @abstractmethod
    def state_dict(self) -> dict:
        """Checkpointable state (data only; ``{}`` when stateless)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` into a freshly built selection."""

    def bind(self, *, num_rounds: int, num_clients: int) -> None:
        """Receive the run's length and federation size (once, before round 1)."""
        return None

    def client_config(self) -> dict[str, Any]:
        """Flat items added to every train/evaluate ConfigRecord; default none."""
        return {}

    def observe(self, server_round: int, metrics: Mapping[int, Mapping[str, float]]) -> None:
        """See the valid train replies' metrics of ``server_round`` by client id."""
        return None

    def scalars(self) -> dict[str, float]:
        """Selection state of the last round, logged under ``curriculum/``; default none."""
        return {}

    def explain(self) -> str:
        """Why the last cohort was chosen (one line; empty when there is nothing to say)."""
        return ""


class LRController(ABC):
    """Decides the clients' local LR each round and the server LR applied to aggregates.

    The round loop calls :meth:`client_config` (and :meth:`client_arrays`) before sending
    train messages, and :meth:`server_step` after the strategy has aggregated, with the
    previous global arrays, the strategy's aggregate and the valid replies sorted by client
    id; it returns the new global arrays. Its state is part of the checkpointable server
    state.

    Construction contract: ``Controller(lr=train.lr, buffer_keys=...)`` plus its own config
    keys; ``buffer_keys`` names the global arrays that are model buffers, not parameters
    (BatchNorm statistics), which a controller must not treat as part of an update.
    """

    @abstractmethod
    def client_config(self, server_round: int) -> dict[str, float | int | str | bool]:
        """Items to put in the round's train ConfigRecord (at least ``lr``)."""

    @abstractmethod
    def server_step(
        self,
        server_round: int,
        previous: ArrayRecord,
        aggregated: ArrayRecord,
        replies: Sequence[Message],
    ) -> ArrayRecord:
        """Return the new global arrays."""

    @abstractmethod
    def scalars(self) -> dict[str, float]:
        """Values to log (e.g. ``lr/server``)."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Checkpointable controller state (data only)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""

    def client_arrays(self, server_round: int) -> ArrayRecord | None:
        """Arrays sent once with every train message of the round (``fedsim.lr-arrays``).

        Default None: nothing extra travels.
        """
        return None


@runtime_checkable
class Curriculum(Protocol):
    """Task ordering before the run plus the clients' run-time curriculum items.

    Implemented structurally by :mod:`scenarios.curricula` (which stays below fedsim and
    imports nothing from it).
    """

    def apply(self, plan: ScenarioPlan, *, seed: int, data: Any = None) -> ScenarioPlan:
        """Return the plan with each client's tasks (re)ordered."""
        ...

    def client_config(self) -> dict[str, Any]:
        """Flat items for every train ConfigRecord (empty when the clients do nothing)."""
        ...


# ------------------------------------------------------------------------------------- client
@runtime_checkable
class ClientLearner(Protocol):
    """Client-side half of a strategy family (weights, prototypes, adapters).

    Registered by name in :data:`fedsim.client.learners.LEARNERS`; a strategy's config names
    it in ``client_learner``.
    """

    def train(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> TrainReply:
        """Train on the client's active task and return the reply payload."""
        ...

    def evaluate(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> EvalReply:
        """Score the model the client would use on every task it has seen (and the next)."""
        ...


@runtime_checkable
class LoopPlugin(Protocol):
    """Hooks of the one local training loop (:func:`fedsim.client.training_loop.train_local`).

    A plugin returns values and never mutates the trainer. Subclass :class:`BasePlugin` and
    override the hooks you need; plugins are assembled in one place,
    :func:`fedsim.client.plugins.loop_assembly.assemble_loop`.
    """

    def order(self, num_examples: int, epoch: int, rng: np.random.Generator) -> np.ndarray | None:
        """Return the order (a subset is allowed) of example positions for an epoch, or None."""
        ...

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return a term added to the batch loss, or None."""
        ...

    def next_lr(self, model: nn.Module, info: StepInfo) -> float | None:
        """Return the learning rate for the next step (after ``optimizer.step()``), or None."""
        ...

    def data_gradients(
        self, model: nn.Module, info: StepInfo
    ) -> list[torch.Tensor | None] | None:
        """Return the batch's cross-entropy gradient, one per trainable parameter, or None.

        None keeps back-propagation of the batch loss; a list replaces the cross-entropy's
        gradient (DP-SGD: per-example clipped and noised), and the plugins' extra loss
        terms are still back-propagated on top of it.
        """
        ...

    def metrics(self) -> dict[str, float]:
        """Return scalars to report after training."""
        ...


class BasePlugin:
    """A :class:`LoopPlugin` that does nothing; subclass and override the hooks you need."""

    def order(self, num_examples: int, epoch: int, rng: np.random.Generator) -> np.ndarray | None:
        """Keep the default shuffled order."""
        return None

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """No extra loss."""
        return None

    def next_lr(self, model: nn.Module, info: StepInfo) -> float | None:
        """Keep the learning rate."""
        return None

    def data_gradients(
        self, model: nn.Module, info: StepInfo
    ) -> list[torch.Tensor | None] | None:
        """Back-propagate the batch loss as usual."""
        return None

    def metrics(self) -> dict[str, float]:
        """Nothing to report."""
        return {}


# ---------------------------------------------------------------------------------- checking
def require(component: object, interface: type, group: str) -> None:
    """Raise :class:`~fedsim.errors.ConfigError` unless ``component`` implements ``interface``.

    Called where the component is built from ``configs/<group>``, so a wrong ``_target_``
    fails before the run with one line naming the group, the class and what is missing.
    """
    if isinstance(component, interface):
        return
    declared = {n for n, v in vars(interface).items() if inspect.isfunction(v)}
    missing = sorted(n for n in declared - set(dir(component)) if not n.startswith("_"))
    how = "subclass" if issubclass(interface, ABC) else "implement"
    raise ConfigError(
        group,
        f"{type(component).__name__} does not {how} fedsim.interfaces.{interface.__name__}"
        + (f" (missing: {', '.join(missing)})" if missing else ""),
    )
