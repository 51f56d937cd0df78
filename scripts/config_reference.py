"""Write the configuration reference from the schemas and the config groups (never by hand).

The docs site's "Config reference" page is this script's output, made at build time by the
MkDocs hook ``scripts/mkdocs_hooks.py``, so it cannot drift from the code:

* the typed sections (``train``, ``federation``, ``eval``, ``backend``, ``output``, ``log``
  and the top-level keys) come from the dataclasses of ``fedsim/config/schema.py``: key, type,
  default and the comment next to the field;
* every config group (``data``, ``scenario``, ``strategy``, ...) lists the YAML options in
  ``configs/<group>/``: the option's header comment, its ``_target_`` and its keys with their
  defaults and comments.

Usage: ``python scripts/config_reference.py [OUT.md]`` (stdout without an argument).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedsim.config import schema  # noqa: E402

KEY_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*(?:#\s*(.*))?$")
FIELD_LINE = re.compile(r"^\s+([a-z_][a-z0-9_]*):\s*[^=]+=\s*.*?(?:#\s*(.*))?$")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_name(tp: object) -> str:
    text = tp if isinstance(tp, str) else getattr(tp, "__name__", str(tp))
    return str(text).replace("typing.", "")


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    if value == "???":
        return "(a config-group option)"
    return f"`{value!r}`" if not isinstance(value, str) else f"`{value}`"


def _field_comments(cls: type) -> dict[str, str]:
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        m = FIELD_LINE.match(line)
        if m and m.group(2):
            comments[m.group(1)] = m.group(2).strip()
    return comments


def schema_section(prefix: str, cls: type) -> list[str]:
    """A Markdown table of one schema dataclass."""
    doc = inspect.getdoc(cls) or ""
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    lines = [f"### `{prefix}`" if prefix else "### top-level keys", "", doc.split("\n\n")[0], ""]
    lines += ["| key | type | default | note |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints.get(f.name)) or hints.get(f.name) is typing.Any:
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        lines.append(
            f"| `{key}` | `{_cell(_type_name(hints.get(f.name, f.type)))}` | "
            f"{_cell(_default(f))} | {_cell(comments.get(f.name, ''))} |"
        )
    return [*lines, ""]


def _inline(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def option_section(group: str, path: Path) -> list[str]:
    """One YAML option of a config group: header comment, target, keys."""
    text = path.read_text()
    header, keys = [], []
    for line in text.splitlines():
        if line.startswith("#") and not keys:
            header.append(line.lstrip("#").strip())
            continue
        m = KEY_LINE.match(line)
        if m:
            keys.append((m.group(1), m.group(2), (m.group(3) or "").strip()))
    data = yaml.safe_load(text) or {}
    target = data.get("_target_") if isinstance(data, dict) else None
    is_global = any(h.startswith("@package _global_") for h in header)
    title = {True: f"+{group}={path.stem}", False: f"{group}={path.stem}"}[is_global]
    if group == "suite":
        title = f"fedsim suite run {path.stem}"
    lines = [f"#### `{title}`", ""]
    about = " ".join(h for h in header if h and not h.startswith("@package"))
    if about:
        lines += [about, ""]
    if target:
        lines += [f"Builds `{target}`.", ""]
    rows = [(k, v, c) for k, v, c in keys if k not in ("_target_", "defaults", "hydra")]
    if is_global or group == "suite":  # a preset or a suite: show what it sets, flattened
        flat = _flatten({k: v for k, v in data.items() if k not in ("hydra", "defaults")})
        rows = [(k, _inline(v), "") for k, v in flat.items()]
        group = "" if is_global else group
    if rows:
        lines += ["| key | default | note |", "|---|---|---|"]
        for key, value, comment in rows:
            shown = f"`{value}`" if value else "(nested)"
            dotted = f"{group}.{key}" if group else key
            lines.append(f"| `{dotted}` | {_cell(shown)} | {_cell(comment)} |")
        lines.append("")
    return lines


def render(configs: Path = ROOT / "configs") -> str:
    """The whole reference page as Markdown."""
    out = [
        "# Config reference",
        "",
        "<!-- generated at build time by scripts/config_reference.py from "
        "fedsim/config/schema.py and configs/; do not edit by hand -->",
        "Generated at docs build time from `fedsim/config/schema.py` (the typed keys) and the "
        "YAML options in `configs/` (one section per config group), so it lists exactly what "
        "this checkout accepts. Override any key on the command line "
        "(`fedsim train.lr=0.05`), pick a group option by name (`fedsim strategy=fedprox`).",
        "",
        "## Typed keys (`fedsim/config/schema.py`)",
        "",
    ]
    root_cls = schema.FedsimConfig
    hints = typing.get_type_hints(root_cls)
    out += schema_section("", root_cls)
    for f in dataclasses.fields(root_cls):
        if dataclasses.is_dataclass(hints.get(f.name)):
            out += schema_section(f.name, hints[f.name])
    out += ["## Config groups (`configs/<group>/<option>.yaml`)", ""]
    groups = [f.name for f in dataclasses.fields(root_cls) if hints.get(f.name) is typing.Any]
    groups += sorted(
        d.name for d in configs.iterdir()
        if d.is_dir() and d.name not in groups and any(d.glob("*.yaml"))
    )
    for group in groups:
        folder = configs / group
        options = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        out += [f"### `{group}`", "", f"{len(options)} options: "
                + ", ".join(f"`{p.stem}`" for p in options) + ".", ""]
        for path in options:
            out += option_section(group, path)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    """Write the page to ``argv[0]`` or print it."""
    text = render()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
