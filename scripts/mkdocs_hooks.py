"""MkDocs hooks of the docs site (``mkdocs.yml`` -> ``hooks``).

* ``reference/config.md`` is generated at build time by ``scripts/config_reference.py`` from
  the schemas and ``configs/``, so the config reference cannot drift from the code.
* Links from a page to a source file of the repository (``../fedsim/interfaces.py``) have no
  target on the site; they are rendered as the file's path in code, but only when the file
  exists, so a link to a file that was moved or removed still fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[([^\]]+)\]\((\.\./[^)#\s]+)(#[^)]*)?\)")


def on_files(files: Files, config) -> Files:  # noqa: ANN001 - mkdocs' config object
    """Add the generated config reference to the site."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from config_reference import render

    files.append(File.generated(config, "reference/config.md", content=render()))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001
    """Turn links that leave the docs folder into code spans naming an existing file."""
    docs = Path(config["docs_dir"]).resolve()
    here = (docs / page.file.src_uri).parent

    def replace(m: re.Match) -> str:
        target = (here / m.group(2)).resolve()
        if docs in target.parents or not target.exists():
            return m.group(0)  # inside the site, or missing: mkdocs checks it
        rel = target.relative_to(ROOT)
        text = m.group(1)
        return text if text.strip("`") == str(rel) else f"{text} (`{rel}`)"

    return LINK.sub(replace, markdown)
