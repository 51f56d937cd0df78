"""A versioned benchmark suite: methods x scenarios x seeds, and its table of mean ± std.

A suite is a YAML file in ``configs/suite/`` (read here as plain data, not composed by Hydra)::

    name: fcl-digits-v1
    version: 1
    description: ...
    base: [+experiment=quick]          # overrides every cell starts from
    seeds: [0, 1, 2]
    methods:    {fedavg: [strategy=fedavg], fedlwf: [strategy=fedlwf], ...}
    scenarios:  {class_incremental: [scenario=class_incremental], ...}
    metrics:    [acc, aia, forgetting, bwt, fwt, bytes_up, bytes_down, ...]

Cell ``(method, scenario, seed)`` runs ``fedsim <base> <scenario> <method> seed=<seed>`` in
``<out>/<method>/<scenario>/seed<seed>``; :func:`cell_done` says whether a finished, completed
run with exactly these overrides is already there (so a killed suite continues where it
stopped). :func:`suite_table` reads every cell's ``summary.json`` into mean ± std over seeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedsim.analysis.groups import mean_std, mean_std_cell
from fedsim.analysis.suite_metrics import METRICS, Metric
from fedsim.errors import ConfigError

SUITE_KEYS = ("name", "version", "description", "base", "seeds", "methods", "scenarios", "metrics")
CELL_FILE = "suite-cell.json"


@dataclass(frozen=True)
class Cell:
    """One run of a suite."""

    method: str
    scenario: str
    seed: int
    overrides: tuple[str, ...]

    @property
    def path(self) -> Path:
        """The cell's run directory relative to the suite's output directory."""
        return Path(self.method) / self.scenario / f"seed{self.seed}"


@dataclass(frozen=True)
class Suite:
    """A parsed suite file."""

    name: str
    version: int
    description: str
    base: tuple[str, ...]
    seeds: tuple[int, ...]
    methods: dict[str, tuple[str, ...]]
    scenarios: dict[str, tuple[str, ...]]
    metrics: tuple[str, ...]
    source: Path

    def cells(self, extra: tuple[str, ...] = ()) -> list[Cell]:
        """Every cell, method-major; ``extra`` overrides (e.g. ``data.root``) end every cell's."""
        return [
            Cell(
                m,
                s,
                seed,
                (*self.base, *self.scenarios[s], *self.methods[m], f"seed={seed}", *extra),
            )
            for m in self.methods
            for s in self.scenarios
            for seed in self.seeds
        ]


def suite_path(name_or_path: str, config_dir: Path) -> Path:
    """A suite file: an existing path, else ``configs/suite/<name>.yaml``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = config_dir / "suite" / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = sorted(p.stem for p in (config_dir / "suite").glob("*.yaml"))
    raise ConfigError("suite", f"no suite '{name_or_path}' (known: {', '.join(known) or 'none'})")


def _overrides(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where, f"must be a list of override strings, got {value!r}")
    return tuple(value)


def _named(where: str, value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(where, "must map at least one name to a list of overrides")
    out = {}
    for name, ovs in value.items():
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"{where}.{name}", "names are letters, digits, '-' and '_'")
        out[name] = _overrides(f"{where}.{name}", ovs)
    return out


def load_suite(path: Path) -> Suite:
    """Parse and check a suite file; every problem is one line naming the file and key."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), f"cannot read the suite: {str(exc).splitlines()[0]}") from None
    where = f"{path.name}"
    if not isinstance(data, Mapping):
        raise ConfigError(where, "a suite file is a mapping")
    unknown = sorted(set(data) - set(SUITE_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: {unknown[0]}", f"unknown key; allowed: {', '.join(SUITE_KEYS)}"
        )
    seeds = data.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise ConfigError(
            f"{where}: seeds", f"must be a non-empty list of integers >= 0, got {seeds!r}"
        )
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds", f"repeats a seed: {seeds}")
    metrics = data.get("metrics") or list(METRICS)
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ConfigError(f"{where}: metrics", f"unknown '{bad[0]}'; allowed: {', '.join(METRICS)}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{where}: version", f"must be an integer >= 1, got {version!r}")
    return Suite(
        name=str(data.get("name") or path.stem),
        version=version,
        description=str(data.get("description") or ""),
        base=_overrides(f"{where}: base", data.get("base") or []),
        seeds=tuple(seeds),
        methods=_named(f"{where}: methods", data.get("methods")),
        scenarios=_named(f"{where}: scenarios", data.get("scenarios")),
        metrics=tuple(metrics),
        source=path,
    )


def cell_done(run_dir: Path, cell: Cell) -> bool:
    """True when ``run_dir`` holds a completed run of exactly ``cell``'s overrides."""
    try:
        recorded = json.loads((run_dir / CELL_FILE).read_text())
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        recorded.get("overrides") == list(cell.overrides)
        and status.get("state") == "completed"
        and (run_dir / "summary.json").is_file()
    )


def record_cell(run_dir: Path, cell: Cell, suite: Suite) -> None:
    """Write which suite cell ``run_dir`` belongs to (read back by :func:`cell_done`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CELL_FILE).write_text(
        json.dumps(
            {
                "suite": suite.name,
                "version": suite.version,
                "method": cell.method,
                "scenario": cell.scenario,
                "seed": cell.seed,
                "overrides": list(cell.overrides),
            },
            indent=1,
        )
    )


def suite_table(suite: Suite, out: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Mean ± std over seeds of every metric, per (method, scenario); missing cells listed."""
    cells = {(c.method, c.scenario, c.seed): c for c in suite.cells(extra)}
    rows, missing = [], []
    for method in suite.methods:
        for scenario in suite.scenarios:
            summaries = []
            for seed in suite.seeds:
                cell = cells[(method, scenario, seed)]
                path = out / cell.path
                if cell_done(path, cell):
                    summaries.append(json.loads((path / "summary.json").read_text()))
                else:
                    missing.append(str(cell.path))
            stats = {}
            for key in suite.metrics:
                mean, std, n = mean_std([METRICS[key].read(s) for s in summaries])
                stats[key] = {"mean": mean, "std": std, "n": n}
            rows.append(
                {"method": method, "scenario": scenario, "runs": len(summaries), "stats": stats}
            )
    return {
        "suite": suite.name,
        "version": suite.version,
        "seeds": list(suite.seeds),
        "metrics": list(suite.metrics),
        "rows": rows,
        "missing": missing,
        "definitions": {k: METRICS[k].definition for k in suite.metrics},
    }


def _fmt(stats: Mapping[str, float], metric: Metric) -> str:
    return mean_std_cell(stats, metric.scale, metric.digits)


def markdown(table: Mapping[str, Any]) -> str:
    """The table as markdown: one block per scenario, one row per method, then definitions."""
    metrics = table["metrics"]
    lines = [f"# {table['suite']} (version {table['version']}), seeds {table['seeds']}", ""]
    for scenario in dict.fromkeys(r["scenario"] for r in table["rows"]):
        lines += [
            f"## {scenario}",
            "",
            "| method | runs | " + " | ".join(METRICS[m].header for m in metrics) + " |",
            "|---|---|" + "---|" * len(metrics),
        ]
        for row in (r for r in table["rows"] if r["scenario"] == scenario):
            cells = [_fmt(row["stats"][m], METRICS[m]) for m in metrics]
            lines.append(f"| {row['method']} | {row['runs']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Cells are mean ± sample std (ddof=1) over seeds.", ""]
    lines += [f"- **{METRICS[m].header}**: {table['definitions'][m]}" for m in metrics]
    if table["missing"]:
        lines += ["", f"Missing cells ({len(table['missing'])}): " + ", ".join(table["missing"])]
    return "\n".join(lines) + "\n"


def csv_rows(table: Mapping[str, Any]) -> list[list[Any]]:
    """Header plus one row per (method, scenario): runs, then mean and std of every metric."""
    header = ["method", "scenario", "runs"]
    for m in table["metrics"]:
        header += [f"{m}_mean", f"{m}_std"]
    rows = [header]
    for row in table["rows"]:
        line = [row["method"], row["scenario"], row["runs"]]
        for m in table["metrics"]:
            line += [row["stats"][m]["mean"], row["stats"][m]["std"]]
        rows.append(line)
    return rows
