"""Which strategies honour which ``lr``, ``curriculum``, ``selection``, ``faults``, secagg options.

DESIGN.md rule 2: every combination runs from config or is refused before the run.

Each strategy class declares :class:`StrategyTraits` (its client learner, what its global
arrays hold, what its clients send); each option declares :class:`OptionNeeds` (what it
requires from the strategy), both as data read from the resolved config - keyed by
``_target_``, never probed with ``getattr`` on built objects. :data:`RULES` pairs a need with
the traits that cannot meet it and the reason; :func:`check_compatibility` raises
:class:`~fedsim.errors.ConfigError` with one line naming both options. The client half of
every option that is honoured is assembled in :mod:`fedsim.client.plugins.loop_assembly`.

``python -m fedsim.config.compatibility --markdown`` prints the table of ``docs/compatibility.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fedsim.errors import ConfigError

GROUPS = ("lr", "curriculum", "selection", "faults")
#: the groups of the generated tables: the option groups and the privacy group (its secagg flag;
#: the DP modes' own refusals are in fedsim/config/privacy.py)
TABLE_GROUPS = (*GROUPS, "privacy")
FLOWER = "flwr.serverapp.strategy."
WEIGHT_STRATEGIES = (
    "FedAvg", "FedProx", "FedAdam", "FedAdagrad", "FedYogi", "FedAvgM",
    "FedMedian", "FedTrimmedAvg", "Krum", "MultiKrum", "Bulyan",
)  # fmt: skip


@dataclass(frozen=True)
class StrategyTraits:
    """What a strategy's rounds look like, as far as the options care.

    Attributes
    ----------
    learner : str
        Client learner: ``weights``, ``prototypes`` or ``adapters``.
    global_arrays : str
        What the global ArrayRecord holds: ``weights``, ``adapters``, ``weights+bank``
        (network plus prototype bank) or ``bank`` (prototype bank only).
    reply : str
        What a client sends: ``update`` (the received arrays' keys, trained), ``prototypes``
        (sparse class means every round), ``prototypes-once`` (each slot's class means once;
        most rounds send no tensors) or ``nothing``.
    per_task_adapters : bool
        The model a client trains depends on its task (per-task adapters).
    keeps_local_model : bool
        ``ClientState.arrays`` can hold the client's previous local model.
    projected_updates : bool
        The global update is projected away from a subspace that grows during the run (FOT).
    update_by_name : bool
        The global update ``Delta_{t-1}`` maps onto the client's trainable parameters by name
        (FedHyper-CL's client plugin needs it).
    plain_mean : bool
        The server's aggregate is the weighted mean of the replies' arrays and nothing else
        (FedAvg's ``aggregate_train``): all secure aggregation can give it.
    """

    learner: str
    global_arrays: str
    reply: str
    per_task_adapters: bool = False
    keeps_local_model: bool = True
    projected_updates: bool = False
    update_by_name: bool = True
    plain_mean: bool = False


@dataclass(frozen=True)
class OptionNeeds:
    """What an option requires from the strategy it runs with.

    Attributes
    ----------
    server_step : bool
        Rescales the change of the global arrays on the server (server LR).
    update_schedule : bool
        Schedules the client LR from successive global updates (FedHyper-SL).
    runtime_tasks : bool
        Clients choose their next task at run time with the model they hold.
    local_scoring : bool
        Scores examples with the client's previous local model (``data.scoring: local``).
    update_replies : bool
        Rewrites replies as ``received + s (local - received)`` (adversarial clients).
    tensor_replies : bool
        Corrupts a reply's tensors (NaN, Inf, wrong shape, missing key).
    server_momentum : bool
        Adds earlier rounds' updates to the global step (FedHyper-GM's momentum).
    client_hypergradient : bool
        Adapts the client LR from ``<u_i, Delta_{t-1}>`` per parameter (FedHyper-CL).
    secure_sum : bool
        The server may only see the weighted sum of the updates (``privacy.secagg``).
    """

    server_step: bool = False
    update_schedule: bool = False
    runtime_tasks: bool = False
    local_scoring: bool = False
    update_replies: bool = False
    tensor_replies: bool = False
    server_momentum: bool = False
    client_hypergradient: bool = False
    secure_sum: bool = False


WEIGHTS = StrategyTraits("weights", "weights", "update")
#: a weights strategy whose server half is FedAvg's weighted mean (FedProx's too: its proximal
#: term is the client's; the FCL baselines' teacher, Fisher and memory live on the client)
MEAN = StrategyTraits("weights", "weights", "update", plain_mean=True)


def _fedproto(spec: Mapping[str, Any]) -> StrategyTraits:
    isolated = float(spec.get("lam", 1.0)) == 0.0 and spec.get("inference") == "head"
    return StrategyTraits("prototypes", "bank", "nothing" if isolated else "prototypes")


def _adapter_bank(spec: Mapping[str, Any]) -> StrategyTraits:
    per_task = str(spec.get("task_adapters", "federated")) != "none"
    return StrategyTraits("adapters", "adapters", "update", per_task, keeps_local_model=False)


#: Traits of each strategy class, by ``_target_`` (a function of its resolved config).
STRATEGIES: dict[str, Callable[[Mapping[str, Any]], StrategyTraits]] = {
    **{FLOWER + name: (lambda spec: WEIGHTS) for name in WEIGHT_STRATEGIES},
    **{FLOWER + name: (lambda spec: MEAN) for name in ("FedAvg", "FedProx")},
    "strategies.fedproto.FedProto": _fedproto,
    "strategies.fedrecon.FederatedReconnaissance": lambda spec: StrategyTraits(
        "prototypes",
        "weights+bank",
        "prototypes-once" if spec.get("freeze", True) else "prototypes",
    ),
    "strategies.adapter_avg.AdapterAvg": lambda spec: StrategyTraits(
        "adapters", "adapters", "update", keeps_local_model=False
    ),
    "strategies.adapter_bank.AdapterBank": _adapter_bank,
    # FCL baselines: FedAvg server; client state keeps the model under un-prefixed keys and
    # the teacher / Fisher / memory beside it (fedsim/client/plugins/baselines.py)
    "strategies.fedlwf.FedLwF": lambda spec: MEAN,
    "strategies.fedewc.FedEWC": lambda spec: MEAN,
    "strategies.replay.FedReplay": lambda spec: MEAN,
    "strategies.fot.FOT": lambda spec: StrategyTraits(
        "weights", "weights", "update", projected_updates=True
    ),
    # PILoRA: LoRA bank + prototype bank down; LoRA entry + prototypes + features up
    "strategies.pilora.PILoRA": lambda spec: StrategyTraits(
        "pilora", "adapters+bank", "prototypes", True, keeps_local_model=False,
        update_by_name=False,
    ),
    "strategies.target.Target": lambda spec: WEIGHTS,  # + old model and synthetic set down
}
#: Traits of a strategy class not listed above, by its ``client_learner``.
LEARNER_DEFAULTS = {
    "weights": WEIGHTS,
    "prototypes": StrategyTraits("prototypes", "bank", "prototypes"),
    "adapters": StrategyTraits("adapters", "adapters", "update", keeps_local_model=False),
}


def _fedhyper(spec: Mapping[str, Any]) -> OptionNeeds:
    return OptionNeeds(
        server_step=str(spec.get("global_rule", "none")) != "none",
        update_schedule=bool(spec.get("server_local", False)),
        server_momentum=str(spec.get("global_rule", "none")) == "gm",
        client_hypergradient=bool(spec.get("client_local", False)),
    )


def _curriculum(spec: Mapping[str, Any]) -> OptionNeeds:
    tasks, data = spec.get("tasks") or {}, spec.get("data") or {}
    return OptionNeeds(
        runtime_tasks=tasks.get("score") == "global_loss",
        local_scoring=data.get("ordering", "none") != "none" and data.get("scoring") == "local",
    )


def _faults(spec: Mapping[str, Any]) -> OptionNeeds:
    rates = ("nan", "inf", "wrong_shape", "missing_key")
    return OptionNeeds(
        update_replies=float(spec.get("adversarial_fraction", 0.0)) > 0,
        tensor_replies=any(float(spec.get(k, 0.0)) > 0 for k in rates),
    )


def _nothing(spec: Mapping[str, Any]) -> OptionNeeds:
    return OptionNeeds()


#: Needs of each option class, by ``_target_`` (a function of its resolved config). A class
#: not listed (a user's own controller or fault model) declares no needs and is accepted.
OPTIONS: dict[str, Callable[[Mapping[str, Any]], OptionNeeds]] = {
    "strategies.lr.fixed.FixedLR": _nothing,
    "strategies.lr.schedules.ScheduledLR": lambda s: OptionNeeds(
        server_step=s.get("target", "client") == "server"
    ),
    "strategies.lr.fedhyper.FedHyper": _fedhyper,
    "scenarios.curricula.identity.ScenarioOrder": _nothing,
    "scenarios.curricula.curriculum.Curriculum": _curriculum,
    "strategies.selection.UniformSelection": _nothing,
    # every learner reports `difficulty` when asked (ClientCurriculum.client_config)
    "strategies.client_curriculum.ClientCurriculum": _nothing,
    "fedsim.faults.models.NoFaults": _nothing,
    "fedsim.faults.models.FaultModel": _faults,
}


@dataclass(frozen=True)
class Rule:
    """A need, the traits that cannot meet it, and why."""

    need: str
    refuses: Callable[[StrategyTraits], bool]
    reason: str


RULES = (
    Rule(
        "server_step",
        lambda t: "bank" in t.global_arrays,
        "a server LR rescales the change of the global arrays, and these hold the prototype "
        "bank (means and counts), which has no step to scale",
    ),
    Rule(
        "update_schedule",
        lambda t: "bank" in t.global_arrays,
        "FedHyper-SL schedules the client LR from <Delta_t-1, Delta_t> of the global arrays, "
        "and these hold the prototype bank, not a model update",
    ),
    Rule(
        "runtime_tasks",
        lambda t: t.per_task_adapters,
        "the model that scores the candidate tasks is the adapter of the task being chosen, "
        "and the server routes per-task adapters by the planned task order",
    ),
    Rule(
        "local_scoring",
        lambda t: not t.keeps_local_model,
        "data.scoring=local needs the client's previous local model in its state, where "
        "this learner keeps its personal adapters",
    ),
    Rule(
        "update_replies",
        lambda t: t.reply != "update",
        "adversarial clients send received + s*(local - received), and these replies are "
        "class prototypes, not an update of the received arrays",
    ),
    Rule(
        "tensor_replies",
        lambda t: t.reply in ("prototypes-once", "nothing"),
        "reply corruption needs tensors in every reply, and these clients send tensors only "
        "in some rounds (each slot's prototypes once, or nothing)",
    ),
    Rule(
        "server_momentum",
        lambda t: t.projected_updates,
        "server momentum adds earlier updates to the global step, and those were projected "
        "against a smaller subspace: it re-introduces directions the projection removed",
    ),
    Rule(
        "client_hypergradient",
        lambda t: not t.update_by_name,
        "FedHyper-CL's client step needs Delta_t-1 by parameter name, and these global "
        "arrays are a LoRA bank plus a prototype bank that do not map onto the client's model",
    ),
    Rule(
        "secure_sum",
        lambda t: not t.plain_mean,
        "under SecAgg+ the server only ever sees the weighted mean of the updates, and this "
        "strategy's server reads each client's reply (robust or server-optimiser aggregation, "
        "prototypes, adapters, FOT's factors or TARGET's server step)",
    ),
)


def strategy_traits(spec: Mapping[str, Any]) -> StrategyTraits:
    """The declared traits of the strategy config ``spec``."""
    declared = STRATEGIES.get(str(spec.get("_target_", "")))
    if declared is not None:
        return declared(spec)
    learner = str(spec.get("client_learner", "weights"))
    return LEARNER_DEFAULTS.get(learner, WEIGHTS)


def option_needs(spec: Mapping[str, Any] | None) -> OptionNeeds:
    """The declared needs of one group option's config ``spec`` (none for unknown classes)."""
    if not spec:
        return OptionNeeds()
    if "_target_" not in spec and "secagg" in spec:  # the privacy group
        return OptionNeeds(secure_sum=bool(spec["secagg"]))
    return OPTIONS.get(str(spec.get("_target_", "")), _nothing)(spec)


def refusal(strategy: Mapping[str, Any], option: Mapping[str, Any] | None) -> str | None:
    """The reason ``option`` cannot run with ``strategy``, or None when it is honoured."""
    traits, needs = strategy_traits(strategy), option_needs(option)
    for rule in RULES:
        if asdict(needs)[rule.need] and rule.refuses(traits):
            return rule.reason
    return None


def check_compatibility(cfg: Mapping[str, Any]) -> None:
    """Refuse the first unsupported strategy x option pair of a resolved config.

    Raises
    ------
    ConfigError
        Keyed by the option's group, one line naming both options and why.
    """
    strategy = cfg["strategy"]
    for group in TABLE_GROUPS:
        option = cfg.get(group)
        reason = refusal(strategy, option)
        if reason is not None:
            raise ConfigError(
                group,
                f"{group}={option.get('name', '?')} cannot run with "
                f"strategy={strategy.get('name', '?')}: {reason}",
            )


if __name__ == "__main__":  # pragma: no cover - the docs generator
    from fedsim.config.compatibility_table import main

    main()
