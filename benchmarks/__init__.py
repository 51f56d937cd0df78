"""Performance harness (not run by the unit tests): fedsim vs plain Flower vs a raw PyTorch loop."""
