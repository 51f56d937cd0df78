"""The console script's fast exit (fedsim.cli.exit): what Python's exit does, minus the freeing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from fedsim.cli.exit import exit_status
from tests.conftest import cli_env


@pytest.mark.parametrize("code, status", [(None, 0), (0, 0), (2, 2), (3, 3), (256 + 1, 1)])
def test_exit_status_of_integer_codes_is_pythons(code, status):
    assert exit_status(code) == status


def test_a_message_code_is_printed_and_exits_1(capsys):
    assert exit_status("fedsim: error: x") == 1
    assert capsys.readouterr().err == "fedsim: error: x\n"


def _run(body: str, tmp_path) -> subprocess.CompletedProcess:
    script = textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, env=cli_env(), timeout=60)  # fmt: skip


def test_threads_atexit_handlers_and_buffered_output_survive_the_fast_exit(tmp_path):
    res = _run(
        """
        import atexit, threading, time
        from pathlib import Path
        from fedsim.cli.exit import exit_process

        def late():
            time.sleep(0.3)
            Path("thread.txt").write_text("joined")

        threading.Thread(target=late).start()          # non-daemon: joined first
        atexit.register(lambda: Path("atexit.txt").write_text(Path("thread.txt").read_text()))
        print("buffered line")                          # a pipe: block-buffered stdout
        exit_process(3)
        """,
        tmp_path,
    )
    assert res.returncode == 3, res.stderr
    assert res.stdout == "buffered line\n"
    assert (tmp_path / "atexit.txt").read_text() == "joined"  # handlers ran after the join


def test_the_console_entry_keeps_exit_codes_and_one_line_errors(tmp_path):
    env = cli_env()
    bad = subprocess.run([sys.executable, "-m", "fedsim", "train.lr=-1"], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=300)  # fmt: skip
    assert bad.returncode == 2
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("fedsim: error:") and "train.lr" in lines[0]
    ok = subprocess.run([sys.executable, "-m", "fedsim", "--help"], capture_output=True,
                        text=True, cwd=tmp_path, env=env, timeout=300)  # fmt: skip
    assert ok.returncode == 0 and "fedsim" in ok.stdout
