"""fedsim's Python API: compose a config, run it, read results - what ``fedsim`` itself uses.

>>> import fedsim
>>> result = fedsim.run(["strategy=fedprox", "scenario.num_clients=8"])   # doctest: +SKIP
>>> result.metrics["acc"], result.accuracy_matrix.shape                    # doctest: +SKIP

``fedsim.compose`` returns the resolved config as a plain dict (edit it and pass it to
``fedsim.run``); ``fedsim.run(..., data=(x, y))`` runs on your own arrays;
``fedsim.load_result(run_dir)`` reads a finished run; ``fedsim.resume(run_dir)`` continues a
killed one. Errors are :mod:`fedsim.errors` exceptions with one-line messages; nothing prints
or exits.
"""

from fedsim.api.result import Result, load_result
from fedsim.api.resume import resume
from fedsim.api.runner import compose, run

__all__ = ["Result", "compose", "load_result", "resume", "run"]
