"""fedsim: federated continual learning on Flower + Ray."""

__version__ = "0.1.0"
