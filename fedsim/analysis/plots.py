"""Report figures (matplotlib, Agg): accuracy over rounds, forgetting per task, accuracy vs bytes.

Curves are read from the runs' TensorBoard event files; each group is drawn as the mean over
its seeds with a +-1 std band (std only where at least two seeds have the round). The per-task
forgetting of the clients' view comes from the per-client accuracy matrices in
``summary.json``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from fedsim.analysis.groups import Group
from fedsim.analysis.runs import Run
from fedsim.logging.tags import tag
from fedsim.metrics import continual as clm

FIG_WIDTH = 11.0


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(i: int):
    return _pyplot().get_cmap("tab10")(i % 10)


def _nanstats(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    stack = np.vstack(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stack, axis=0)
        count = np.sum(np.isfinite(stack), axis=0)
        std = np.where(count > 1, np.nanstd(stack, axis=0, ddof=1) if len(rows) > 1 else 0, 0)
    return mean, np.nan_to_num(std)


def curve(runs: list[Run], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounds, mean and std over ``runs`` of scalar ``name`` (union of the runs' rounds)."""
    series = [r.scalars[name] for r in runs if name in r.scalars]
    if not series:
        return np.array([]), np.array([]), np.array([])
    steps = np.array(sorted({int(s) for ser in series for s in ser.steps}))
    rows = []
    for ser in series:
        row = np.full(len(steps), np.nan)
        row[np.searchsorted(steps, ser.steps)] = ser.values
        rows.append(row)
    mean, std = _nanstats(rows)
    return steps, mean, std


def band_limits(
    mean: np.ndarray, std: np.ndarray, lo: float = 0.0, hi: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """The ±1 std band of an accuracy curve, clipped to the metric's range ``[lo, hi]``."""
    return np.clip(mean - std, lo, hi), np.clip(mean + std, lo, hi)


def _band(ax, x, mean, std, color, label) -> None:
    ax.plot(x, mean, marker="o", ms=3, color=color, label=label)
    if np.any(std > 0):
        low, high = band_limits(mean, std)
        ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


def _legend_below(fig, axes, groups: list[Group]) -> None:
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        for ax in axes[1:]:
            handles, labels = ax.get_legend_handles_labels()
            if handles:
                break
    longest = max((len(g.legend) for g in groups), default=1)
    per_entry_in = 0.075 * longest + 0.9  # ~0.075 in per character at fontsize 9, plus handle
    ncol = int(max(1, min(len(groups), fig.get_figwidth() // per_entry_in)))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    rows = -(-len(groups) // ncol)
    fig.tight_layout(rect=(0, 0.04 + 0.045 * rows, 1, 1))


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9)


def accuracy_over_rounds(groups: list[Group], path: Path) -> None:
    """Global-model accuracy (all tasks) and the clients' running ACC per round."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(FIG_WIDTH, 4.2 + 0.3 * len(groups)))
    panels = (
        (tag("central_acc"), "global model: accuracy on all tasks"),
        (tag("cl", "acc"), "clients' view: running average accuracy (ACC)"),
    )
    for ax, (name, title) in zip(axes, panels, strict=True):
        drawn = False
        for i, g in enumerate(groups):
            x, mean, std = curve(g.runs, name)
            if x.size:
                _band(ax, x, mean, std, _color(i), g.legend)
                drawn = True
        if not drawn:
            _empty(ax, f"no '{name}' scalars in these runs")
        ax.set(title=title, xlabel="round", ylabel="accuracy", ylim=(-0.02, 1.02))
        ax.xaxis.set_major_locator(_integer_locator())
        ax.grid(alpha=0.3)
    _legend_below(fig, list(axes), groups)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def position_forgetting(run: Run) -> np.ndarray:
    """Forgetting per task position ``j < T-1``, mean over clients (Chaudhry et al., 2018)."""
    per_client = []
    for mat in (run.summary.get("client_matrices") or {}).values():
        a = np.array([[np.nan if v is None else v for v in row] for row in mat], dtype=float)
        if a.shape[0] < 2:
            continue
        row = clm.forgetting_per_task(a)
        per_client.append(row)
    if not per_client:
        return np.array([])
    width = max(len(r) for r in per_client)
    padded = [np.pad(r, (0, width - len(r)), constant_values=np.nan) for r in per_client]
    return _nanstats(padded)[0]


def task_forgetting(run: Run) -> np.ndarray:
    """Global model, per global task: best accuracy before the last round minus the final one."""
    out = []
    k = 0
    while tag("central_acc", k) in run.scalars:
        ser = run.scalars[tag("central_acc", k)]
        vals = ser.values[ser.steps >= 1]
        out.append(float(np.max(vals[:-1]) - vals[-1]) if len(vals) > 1 else np.nan)
        k += 1
    return np.array(out)


def _bars(ax, groups: list[Group], per_run, xlabel: str) -> bool:
    values = [[per_run(r) for r in g.runs] for g in groups]
    width_n = max((len(v) for vs in values for v in vs), default=0)
    if width_n == 0:
        return False
    width = 0.8 / len(groups)
    for i, (g, vs) in enumerate(zip(groups, values, strict=True)):
        rows = [np.pad(v, (0, width_n - len(v)), constant_values=np.nan) for v in vs]
        mean, std = _nanstats(rows)
        x = np.arange(width_n) + (i - (len(groups) - 1) / 2) * width
        ax.bar(
            x,
            mean,
            width,
            yerr=std if len(rows) > 1 else None,
            color=_color(i),
            label=g.legend,
            capsize=3,
        )
    ax.set_xticks(range(width_n), [str(j) for j in range(width_n)])
    ax.set_xlabel(xlabel)
    ax.axhline(0, color="black", linewidth=0.8)
    return True


def forgetting_per_task(groups: list[Group], path: Path) -> None:
    """Forgetting per task: clients' view by task position, global model by global task."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(FIG_WIDTH, 4.2 + 0.3 * len(groups)))
    panels = (
        (
            position_forgetting,
            "clients' view: forgetting per task position\n(mean over clients)",
            "task position j (client's own order; the last task cannot be forgotten)",
        ),
        (task_forgetting, "global model: best earlier accuracy - final accuracy", "global task id"),
    )
    for ax, (fn, title, xlabel) in zip(axes, panels, strict=True):
        if not _bars(ax, groups, fn, xlabel):
            _empty(ax, "fewer than two tasks: nothing can be forgotten")
            ax.set_xlabel(xlabel)
        ax.set(title=title, ylabel="forgetting (accuracy points, 0-1)")
        ax.grid(alpha=0.3, axis="y")
    _legend_below(fig, list(axes), groups)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_vs_communication(groups: list[Group], path: Path) -> None:
    """Global-model accuracy against cumulative bytes exchanged (both directions)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(FIG_WIDTH * 0.62, 4.4 + 0.3 * len(groups)))
    drawn = False
    for i, g in enumerate(groups):
        xs, bytes_mean, _ = curve(g.runs, tag("bytes_cum"))
        ys, acc_mean, acc_std = curve(g.runs, tag("central_acc"))
        common = np.intersect1d(xs, ys)
        if common.size == 0:
            continue
        bx = bytes_mean[np.searchsorted(xs, common)] / 1e6
        sel = np.searchsorted(ys, common)
        _band(ax, bx, acc_mean[sel], acc_std[sel], _color(i), g.legend)
        drawn = True
    if not drawn:
        _empty(ax, "no communication / accuracy scalars in these runs")
    ax.set(
        title="global model accuracy vs communication",
        xlabel="cumulative bytes exchanged, down + up (MB)",
        ylabel="accuracy on all tasks",
        ylim=(-0.02, 1.02),
    )
    ax.grid(alpha=0.3)
    _legend_below(fig, [ax], groups)
    fig.savefig(path, dpi=110)
    plt.close(fig)


FIGURES = {
    "accuracy_over_rounds.png": accuracy_over_rounds,
    "forgetting_per_task.png": forgetting_per_task,
    "accuracy_vs_communication.png": accuracy_vs_communication,
}


def suite_figure(table: dict, path: Path, metrics: tuple[str, ...] = ("acc", "forgetting")) -> None:
    """Grouped bars of a suite table: one panel per metric, scenarios on x, a bar per method.

    Bars are the mean over seeds, error bars one sample std; a missing cell draws no bar.
    """
    plt = _pyplot()
    metrics = tuple(m for m in metrics if m in table["metrics"]) or tuple(table["metrics"][:1])
    scenarios = list(dict.fromkeys(r["scenario"] for r in table["rows"]))
    methods = list(dict.fromkeys(r["method"] for r in table["rows"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(FIG_WIDTH, 4.2), squeeze=False)
    width = 0.8 / max(1, len(methods))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, method in enumerate(methods):
            rows = {
                r["scenario"]: r["stats"][metric] for r in table["rows"] if r["method"] == method
            }
            mean = [rows[s]["mean"] if rows[s]["n"] else np.nan for s in scenarios]
            std = [rows[s]["std"] if rows[s]["n"] > 1 else 0.0 for s in scenarios]
            xs = np.arange(len(scenarios)) + (i - (len(methods) - 1) / 2) * width
            ax.bar(xs, mean, width, yerr=std, color=_color(i), label=method, capsize=2)
        ax.set_xticks(np.arange(len(scenarios)), scenarios, fontsize=8)
        ax.set(title=metric)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{table['suite']} v{table['version']}: mean ± std over seeds {table['seeds']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
