"""Parameter-efficient adapters on a frozen backbone: spec, modules, backbone init, bank keys."""

from fedsim.adapters.spec import AdapterSpec

__all__ = ["AdapterSpec"]
