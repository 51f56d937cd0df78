"""The ``fedsim`` command: the only place that prints one-line errors and exits."""
