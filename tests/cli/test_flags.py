"""Hydra's own flags work, and bad files (data, a run directory) are one line, in-process."""

from __future__ import annotations

import json
import logging

import pytest

from fedsim.cli import main as cli
from tests.data.writers import cifar_like


@pytest.fixture(autouse=True)
def _no_hydra_log_handlers():
    """An in-process Hydra run points logging at this test's captured stderr; undo that."""
    yield
    for logger in [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]:
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler):
                logger.removeHandler(handler)


def run_main(args, capsys):
    """``fedsim.cli.main.main(args)``: (exit code, stdout, stderr)."""
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("fedsim: error:"), lines
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--cfg", "job"], "num_rounds"),
        (["-c", "job"], "num_rounds"),
        (["--cfg", "hydra"], "run:"),
        (["--cfg", "all"], "hydra:"),
        (["--info", "searchpath"], "Config search path"),
    ],
)
def test_hydra_show_flags_work(flags, needle, capsys, tmp_path):
    code, out, err = run_main([*flags, "train.lr=0.2", f"output.root={tmp_path}"], capsys)
    assert code == 0, err
    assert needle in out
    assert not any(tmp_path.iterdir())  # nothing ran, nothing written


def test_config_dir_adds_a_group_option(capsys, tmp_path):
    extra = tmp_path / "conf" / "model"
    extra.mkdir(parents=True)
    (extra / "mine.yaml").write_text("_target_: fedsim.models.mlp.MLP\nname: mine\nhidden: 7\n")
    code, out, err = run_main(["--config-dir", str(tmp_path / "conf"), "--cfg", "job",
                               "model=mine"], capsys)  # fmt: skip
    assert code == 0, err
    assert "hidden: 7" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--config-dir", "/nonexistent/conf"], "--config-dir"),
        (["--cfg", "loud"], "--cfg"),
        (["--bogus"], "--bogus"),
        (["strategy=fedavg,fedprox"], "add -m"),
        (["job"], "job"),
        (["-m", "--cfg", "job"], "only one of"),
    ],
)
def test_bad_flags_are_one_line(args, needle, capsys, tmp_path):
    code, _, err = run_main([*args, f"output.root={tmp_path}"], capsys)
    assert code == 2
    assert needle in one_line(err)


def test_describe_help(capsys):
    code, out, err = run_main(["describe", "--help"], capsys)
    assert code == 0 and "usage: fedsim describe" in out and not err


@pytest.mark.parametrize(
    "damage",
    [b"", b"\x80\x04garbage", b"not a pickle at all", "truncate"],
)
def test_corrupt_cifar_batch_is_one_line_naming_the_file(damage, capsys, tmp_path):
    cifar_like(tmp_path)
    victim = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    blob = victim.read_bytes()
    victim.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else damage)
    root = tmp_path / "runs"
    code, _, err = run_main(
        ["data=cifar10", f"data.root={tmp_path}", "model=cnn", "scenario.num_clients=2",
         "scenario.num_tasks=2", f"output.root={root}"],
        capsys,
    )  # fmt: skip
    assert code == 2
    line = one_line(err)
    assert "data.root" in line and "data_batch_3" in line
    assert not root.exists()


def _run_dir(tmp_path):
    from fedsim.runtime.run_dir import mark, write_config
    from tests.conftest import SMALL, compose

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_config(run_dir, compose(*SMALL, f"output.root={tmp_path}"))
    mark(run_dir, "failed", error="killed")
    return run_dir


@pytest.mark.parametrize(
    "file, content, needle",
    [
        ("status.json", "{not json", "status.json"),
        ("status.json", "[1, 2]", "status.json"),
        ("config.yaml", "", "empty"),
        ("config.yaml", "train: [unclosed", "config.yaml"),
        ("config.yaml", "- a\n- b\n", "config.yaml"),
        ("config.yaml", "train:\n  lr: abc\n", "train.lr"),
    ],
)
def test_resume_on_corrupt_run_files_is_one_line(file, content, needle, capsys, tmp_path,
                                                 monkeypatch):  # fmt: skip
    from fedsim.cli import resume

    run_dir = _run_dir(tmp_path)
    (run_dir / file).write_text(content)
    # the checkpoint format is another module's business: any loadable one will do here
    monkeypatch.setattr("fedsim.server.state.load_checkpoint", lambda _p: {"round": 1})
    with pytest.raises(SystemExit) as info:
        resume.resume_main([str(run_dir)])
    assert info.value.code == 2
    assert needle in one_line(capsys.readouterr().err)
    if file != "status.json":
        assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"


@pytest.mark.parametrize(
    "states, code",
    [
        (["completed", "completed"], None),
        (["completed", "degraded"], 3),
        (["degraded", "failed"], 1),
    ],
)
def test_multirun_exits_with_the_worst_jobs_code(states, code, capsys):
    if code is None:
        cli._exit_for_outcomes(states)
        return
    with pytest.raises(SystemExit) as info:
        cli._exit_for_outcomes(states)
    assert info.value.code == code
    assert "runs not completed" in capsys.readouterr().err
