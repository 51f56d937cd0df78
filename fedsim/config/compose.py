"""Hydra composition of the experiment config (driver side only: DESIGN.md rule 8).

The CLI, the deployment submitter and the ServerApp of a deployment run compose here; workers
(Ray actors, SuperNodes) receive the resolved plain config and never import Hydra.
"""

from __future__ import annotations

from pathlib import Path

from fedsim.config.overrides import hydra_message

__all__ = ["compose_config", "config_dir", "hydra_message", "search_path_override"]


def config_dir() -> Path:
    """The ``configs/`` directory (repository checkout first, then the installed copy)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "configs", package / "_configs"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError("fedsim configs/ directory not found")


def search_path_override(config_dirs: list[str | Path]) -> list[str]:
    """``hydra.searchpath=[file://DIR,...]`` for extra config directories (none: ``[]``).

    Each directory must exist; it is made absolute, so the override means the same thing from
    any working directory (and in Hydra's run, which may change it).
    """
    from fedsim.config.paths import check_config_dir

    if not config_dirs:
        return []
    dirs = ",".join(f"file://{check_config_dir(str(d))}" for d in config_dirs)
    return [f"hydra.searchpath=[{dirs}]"]


def compose_config(
    overrides: list[str],
    *,
    config_name: str = "config",
    return_hydra_config: bool = False,
    config_dirs: list[str | Path] = (),
):
    """Compose the config with Hydra's compose API (no run directory, no logging changes).

    ``config_dirs`` are searched for config groups after ``configs/`` (``--config-dir``):
    a YAML there adds an option to a group (``DIR/data/mine.yaml`` -> ``data=mine``) or a
    group of its own.
    """
    overrides = [*search_path_override(list(config_dirs)), *overrides]
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from fedsim.config.schema import register

    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(
                config_name=config_name,
                overrides=overrides,
                return_hydra_config=return_hydra_config,
            )
    finally:
        GlobalHydra.instance().clear()
