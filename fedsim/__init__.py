"""fedsim: federated continual learning on Flower + Ray.

The Python API (``fedsim.compose``, ``fedsim.run``, ``fedsim.load_result``, ``fedsim.resume``,
``fedsim.Result``; see :mod:`fedsim.api`) is imported on first use (PEP 562), so
``import fedsim`` stays cheap: nothing of torch, Flower, Hydra or Ray is loaded until a
function is called.
"""

__version__ = "0.1.0"
__all__ = ["Result", "compose", "load_result", "resume", "run"]
_SUBPACKAGES = ("api", "data", "errors")


def __getattr__(name: str):
    import importlib

    if name in __all__:
        return getattr(importlib.import_module("fedsim.api"), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"fedsim.{name}")
    raise AttributeError(f"module 'fedsim' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__, *_SUBPACKAGES])
