"""Domain-incremental streams: the same classes in every task, each under its own input shift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scenarios.class_incremental import num_classes_of
from scenarios.domains import parse_domain
from scenarios.streams import StreamKnobs, build_streams
from scenarios.types import ScenarioPlan, Task

SHIFTS = ("rotation", "permutation", "noise", "shift", "list")


def domain_names(
    shift: str,
    num_tasks: int,
    *,
    seed: int,
    rotation_step: float,
    noise_step: float,
    shift_scale: float,
    domains: Sequence[str] | None,
) -> list[str]:
    """Domain names of the tasks (task 0 is the unshifted data for generated families)."""
    if shift == "list":
        if not domains:
            raise ValueError("shift=list needs a non-empty 'domains' list, e.g. [identity,rot:90]")
        names = [str(d) for d in domains]
        if len(names) != num_tasks:
            raise ValueError(
                f"domains has {len(names)} names but num_tasks = {num_tasks}; "
                f"set num_tasks={len(names)}"
            )
    elif domains:
        raise ValueError(f"domains is only used with shift=list (shift is '{shift}')")
    elif shift == "rotation":
        names = [f"rot:{k * rotation_step:g}" for k in range(num_tasks)]
    elif shift == "permutation":
        perm_seeds = np.random.default_rng([int(seed), 2]).integers(0, 2**31 - 1, size=num_tasks)
        names = ["identity"] + [f"perm:{int(s)}" for s in perm_seeds[1:]]
    elif shift == "noise":
        names = [f"noise:{k * noise_step:g}" for k in range(num_tasks)]
    else:
        names = ["identity"] + [f"shift:{shift_scale:g}:{k}" for k in range(1, num_tasks)]
    names = ["identity" if n in ("rot:0", "noise:0") else n for n in names]
    for n in names:
        parse_domain(n)
    if len(set(names)) != len(names):
        raise ValueError(f"domains must be distinct, got {names}")
    return names


def domain_incremental(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_tasks: int = 5,
    shift: str = "rotation",
    rotation_step: float = 45.0,
    noise_step: float = 0.25,
    shift_scale: float = 1.0,
    domains: Sequence[str] | None = None,
    num_classes: int | None = None,
    disjoint_data: bool = False,
    **stream: Any,
) -> ScenarioPlan:
    """Every task holds the same classes; task ``k`` sees the inputs through domain ``k``.

    Rotated / Permuted MNIST style streams (van de Ven & Tolias, 2019: Domain-IL). The
    transform of a task is named in ``Task.domain`` and applied to the torch batch by
    :func:`scenarios.domains.domain_transform` at training and test time.

    Parameters
    ----------
    train_labels, test_labels : numpy.ndarray
        Labels of the data source's train and test splits.
    seed : int
        Run seed.
    num_tasks : int
        Number of domains (tasks).
    shift : str
        Family of domains: ``"rotation"`` (``rot:k*rotation_step``), ``"permutation"``
        (task 0 unpermuted, then seeded pixel permutations), ``"noise"``
        (``noise:k*noise_step``), ``"shift"`` (seeded offsets of scale ``shift_scale``),
        or ``"list"`` (the explicit ``domains`` names).
    rotation_step, noise_step, shift_scale : float
        Step sizes of the generated families.
    domains : Sequence[str], optional
        Explicit domain names for ``shift="list"``, e.g. ``[identity, rot:90, perm:3]``.
    num_classes : int, optional
        Use only the first ``num_classes`` classes (default: all).
    disjoint_data : bool
        False (default, as in Permuted MNIST): every task reuses the whole train split under
        its own transform. True: the train split is cut into ``num_tasks`` disjoint,
        stratified parts, one per task.
    **stream
        Per-client heterogeneity knobs of :class:`scenarios.streams.StreamKnobs`
        (``blurry`` is rejected: a later task would see earlier examples in its own domain).

    Returns
    -------
    ScenarioPlan
        The plan; tasks share classes and test examples and differ by ``domain``.
    """
    knobs = StreamKnobs(**stream)
    if int(num_tasks) < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    if shift not in SHIFTS:
        raise ValueError(f"shift must be one of {', '.join(SHIFTS)}; got '{shift}'")
    if knobs.blurry > 0:
        raise ValueError("blurry > 0 is for class-incremental streams, not domain_incremental")
    classes = np.unique(train_labels)
    if num_classes is not None:
        if not 1 <= int(num_classes) <= len(classes):
            raise ValueError(f"num_classes must be in [1, {len(classes)}], got {num_classes}")
        classes = classes[: int(num_classes)]
    names = domain_names(shift, num_tasks, seed=seed, rotation_step=rotation_step,
                         noise_step=noise_step, shift_scale=shift_scale, domains=domains)
    knobs.tasks_each(num_tasks)
    rng = np.random.default_rng([int(seed), 3])
    cls = tuple(int(c) for c in classes)
    test_idx = np.flatnonzero(np.isin(test_labels, cls))
    train_idx = np.flatnonzero(np.isin(train_labels, cls))
    if disjoint_data:
        pools = [[] for _ in range(num_tasks)]
        for c in cls:
            own = train_idx[train_labels[train_idx] == c]
            for t, part in enumerate(np.array_split(rng.permutation(own), num_tasks)):
                pools[t].append(part)
        pools = [np.sort(np.concatenate(p)) for p in pools]
    else:
        pools = [train_idx] * num_tasks
    tasks = tuple(
        Task(task_id=k, classes=cls, test_idx=test_idx, domain=name, name=f"domain {name}")
        for k, name in enumerate(names)
    )
    streams, last_round = build_streams(knobs, pools=pools, labels=train_labels, rng=rng)
    return ScenarioPlan(
        kind="domain_incremental",
        tasks=tasks,
        streams=streams,
        num_rounds=last_round,
        num_classes=num_classes_of(train_labels, test_labels),
        info={"num_tasks": num_tasks, "shift": shift, "domains": names,
              "disjoint_data": bool(disjoint_data), **knobs.info()},
    )
