"""The import contract of DESIGN.md section 2, checked on the source (AST, no imports run).

Every module of ``fedsim``, ``strategies`` and ``scenarios`` belongs to one layer of
:data:`LAYERS` (the longest matching prefix wins). An import, at module level or inside a
function, may only point to the same layer or one below; between packages of one layer the
imports form no cycle; ``scenarios`` is pure (imports nothing of fedsim); only ``fedsim.cli``
exits the process or prints the one-line errors.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fedsim", "strategies", "scenarios")

# bottom (0) to top; docs/architecture.md draws the same table
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "fedsim.errors",
            "fedsim.wire",
            "fedsim.seeding",
            "fedsim.env",
            "fedsim.device",
            "fedsim.stateful",
            "fedsim.interfaces",
            "fedsim.resolver",
            "fedsim.registry",
            "fedsim.config.plain",
            "fedsim.data",
            "fedsim.models",
            "fedsim.logging",
            "fedsim.metrics",
            "fedsim.transport",
            "fedsim.privacy",
            "scenarios",
        ),
    ),
    ("experiment and the one training loop", ("fedsim.experiment", "fedsim.client.training_loop")),
    (
        "methods: server halves, client halves, faults",
        (
            "strategies",
            "fedsim.adapters",
            "fedsim.client.state",
            "fedsim.client.learners",
            "fedsim.client.plugins",
            "fedsim.faults",
        ),
    ),
    (
        "apps: ServerApp body, ClientApp",
        ("fedsim.server", "fedsim.client.app", "fedsim.client.secagg_mod"),
    ),
    ("config validation, analysis", ("fedsim.config", "fedsim.analysis")),
    ("runtimes", ("fedsim.runtime", "fedsim.deployment")),
    ("Python API", ("fedsim.api",)),
    ("CLI", ("fedsim.cli", "fedsim.__main__")),
]
# package __init__ files that import nothing at module level (``fedsim`` re-exports the Python
# API lazily through a PEP 562 ``__getattr__``, so ``import fedsim`` stays cheap)
NAMESPACES = ("fedsim", "fedsim.client")
_PREFIXES = sorted(
    ((prefix, level) for level, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes),
    key=lambda item: -len(item[0]),
)


def module_name(path: Path) -> str:
    """Dotted module name of a source file under ``ROOT``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    """Every module of the three packages."""
    return {
        module_name(p): p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def layer_prefix(module: str) -> tuple[str, int] | None:
    """The declared prefix covering ``module`` and its layer (None: undeclared)."""
    for prefix, level in _PREFIXES:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, level
    return None


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (annotations only, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported anywhere in ``path`` (also inside functions).

    Imports under ``if TYPE_CHECKING:`` only name types for annotations and never run; they
    are not dependencies.
    """
    found: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                target = _resolve(name, modules)
                if target:
                    found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    """Module -> project modules it imports."""
    modules = source_modules()
    return {m: imports_of(p, modules) - {m} for m, p in modules.items()}


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between declared prefixes ("packages")."""
    out: dict[str, set[str]] = collections.defaultdict(set)
    for src, targets in edges.items():
        a = layer_prefix(src)
        for t in targets:
            b = layer_prefix(t)
            if a and b and a[0] != b[0]:
                out[a[0]].add(b[0])
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    undeclared = [m for m in source_modules() if layer_prefix(m) is None and m not in NAMESPACES]
    assert not undeclared, f"add these modules to LAYERS (and docs/architecture.md): {undeclared}"


def test_namespace_packages_import_nothing():
    assert {m: ts for m, ts in graph().items() if m in NAMESPACES and ts} == {}


def test_imports_point_down_or_sideways():
    bad = []
    for src, targets in graph().items():
        _, here = layer_prefix(src) or ("", 0)
        for t in sorted(targets):
            _, there = layer_prefix(t) or ("", 0)
            if there > here:
                bad.append(f"{src} ({LAYERS[here][0]}) imports {t} ({LAYERS[there][0]})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_cycles_between_packages():
    assert cycles(package_graph(graph())) == []


def test_scenarios_are_pure():
    bad = {
        m: sorted(t for t in ts if not t.startswith("scenarios"))
        for m, ts in graph().items()
        if m.startswith("scenarios")
    }
    assert {m: ts for m, ts in bad.items() if ts} == {}


def _exits(tree: ast.AST) -> list[int]:
    """Line numbers of ``sys.exit``/``exit``/``raise SystemExit`` outside a __main__ guard."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            guarded |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
    lines = []
    for node in ast.walk(tree):
        call = node.exc if isinstance(node, ast.Raise) else node
        if isinstance(call, ast.Call):
            name = ast.unparse(call.func)
            if name in ("sys.exit", "exit", "quit", "os._exit", "SystemExit"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            if ast.unparse(node.exc) == "SystemExit":
                lines.append(node.lineno)
    return sorted(set(lines) - guarded)


def test_only_the_cli_exits():
    bad = []
    for module, path in source_modules().items():
        if module.startswith(("fedsim.cli", "fedsim.__main__")):
            continue
        bad += [f"{path.relative_to(ROOT)}:{n}" for n in _exits(ast.parse(path.read_text()))]
    assert not bad, "library code exits the process (raise a fedsim.errors exception):\n" + (
        "\n".join(bad)
    )


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder(edges, expected):
    assert cycles(edges) == expected


def test_exit_finder():
    src = (
        "import sys\n"
        "def f():\n    sys.exit(2)\n"
        "def g():\n    raise SystemExit(1)\n"
        "if __name__ == '__main__':\n    sys.exit(0)\n"
    )
    assert _exits(ast.parse(src)) == [3, 5]


def test_type_checking_imports_are_not_dependencies(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from fedsim.cli import main\n"
        "def f():\n    from fedsim import wire\n"
    )
    modules = {"fedsim.cli": src, "fedsim.wire": src}
    assert imports_of(src, modules) == {"fedsim.wire"}


def test_layer_check_sees_a_wrong_import(tmp_path, monkeypatch):
    """The contract fails on an upward import (the test is able to fail)."""
    (tmp_path / "fedsim").mkdir()
    (tmp_path / "fedsim" / "wire.py").write_text("from fedsim.cli import main\n")
    (tmp_path / "fedsim" / "cli.py").write_text("")
    modules = {
        "fedsim.wire": tmp_path / "fedsim" / "wire.py",
        "fedsim.cli": tmp_path / "fedsim" / "cli.py",
    }
    assert imports_of(modules["fedsim.wire"], modules) == {"fedsim.cli"}
    assert layer_prefix("fedsim.wire")[1] < layer_prefix("fedsim.cli")[1]
