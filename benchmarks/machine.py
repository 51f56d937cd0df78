"""What a benchmark ran on: CPU, cores, load, versions, the environment flags that move timings.

Every results JSON carries ``machine`` (taken before the first measurement) and ``load_after``,
so a figure can be read against the machine and the load it was measured under.
"""

from __future__ import annotations

import os
import platform
import statistics
from importlib import metadata

# environment variables that change speed without changing results
ENV_FLAGS = (
    "PYTHONDONTWRITEBYTECODE", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "PYTHONOPTIMIZE",
)
# --compare-env: name -> (variables set, variables removed) for the measured command only
ENV_VARIANTS = {
    "clean": ({}, ("PYTHONDONTWRITEBYTECODE", "OPENBLAS_CORETYPE")),
    "no-bytecode": ({"PYTHONDONTWRITEBYTECODE": "1"}, ("OPENBLAS_CORETYPE",)),
    "openblas-coretype": ({"OPENBLAS_CORETYPE": "Haswell"}, ("PYTHONDONTWRITEBYTECODE",)),
}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def threads_per_core() -> int | None:
    """Hardware threads sharing cpu0's core (2: the "cores" are SMT siblings), where known."""
    path = "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except OSError:
        return None
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU model, cores, memory, load average now, versions, env flags, torch threads."""
    import torch

    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = None
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads_per_core": threads_per_core(),
        "memory_gib": round(mem, 1) if mem else None,
        "load_average": load_average(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("torch", "flwr", "ray", "numpy", "hydra-core")},
        "env": {k: os.environ.get(k) for k in ENV_FLAGS},
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
    }


def env_for(variant: str | None, base: dict[str, str]) -> dict[str, str]:
    """``base`` with an :data:`ENV_VARIANTS` entry applied (``None``: unchanged)."""
    env = dict(base)
    if variant is None:
        return env
    sets, removes = ENV_VARIANTS[variant]
    for key in removes:
        env.pop(key, None)
    env.update(sets)
    return env


def spread(values: list[float]) -> dict:
    """Median, min, max and count of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def cell(values: list[float], fmt: str = "{:.2f}") -> str:
    """``median [min-max]`` of repeated measurements, for the markdown tables."""
    if len(values) == 1:
        return fmt.format(values[0])
    s = spread(values)
    return f"{fmt.format(s['median'])} [{fmt.format(s['min'])}-{fmt.format(s['max'])}]"
