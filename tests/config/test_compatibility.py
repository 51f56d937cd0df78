"""The declared compatibility table: the whole strategy x lr x curriculum x selection x faults
cross product is either accepted or refused with one line naming both options (no Ray)."""

from __future__ import annotations

import itertools

import pytest

from fedsim.config.compatibility import GROUPS, check_compatibility, refusal
from fedsim.config.compose import config_dir
from fedsim.config.validate import validate_values
from fedsim.errors import ConfigError
from tests.conftest import compose

AXES = ("strategy", *GROUPS)


def names(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


@pytest.fixture(scope="module")
def options() -> tuple[dict, dict[str, dict[str, dict]]]:
    """The default resolved config and every option of every axis, each composed once."""
    base = compose()
    return base, {g: {n: compose(f"{g}={n}")[g] for n in names(g)} for g in AXES}


def test_whole_cross_product_is_accepted_or_refused_naming_both(options):
    base, opts = options
    # each strategy x option pair decided once; every combination then goes through the
    # whole of validate_values (which ends with check_compatibility)
    refused_pair = {
        (s, g, o): refusal(sspec, ospec) is not None
        for s, sspec in opts["strategy"].items()
        for g in GROUPS
        for o, ospec in opts[g].items()
    }
    accepted, refused = 0, 0
    for combo in itertools.product(*(opts[g].items() for g in AXES)):
        chosen = dict(zip(AXES, combo, strict=True))
        s = chosen["strategy"][0]
        bad = [g for g in GROUPS if refused_pair[(s, g, chosen[g][0])]]
        try:
            validate_values({**base, **{g: spec for g, (_, spec) in chosen.items()}})
        except ConfigError as exc:
            msg = str(exc)
            assert "\n" not in msg and exc.key in GROUPS, msg
            assert f"strategy={s}" in msg and f"{exc.key}={chosen[exc.key][0]}" in msg, msg
            assert bad and exc.key == bad[0], msg  # the first refused pair is the one named
            refused += 1
        else:
            assert not bad, (s, bad)
            accepted += 1
    total = 1
    for g in AXES:
        total *= len(opts[g])
    assert accepted + refused == total
    assert accepted > 0 and refused > 0


@pytest.mark.parametrize(
    ("strategy", "group", "option", "honoured"),
    [
        ("fedproto", "lr", "fedhyper_cl", True),
        ("fedproto", "curriculum", "tasks_runtime", True),
        ("adapter_avg", "curriculum", "data_curriculum", True),
        ("fedrecon", "curriculum", "data_curriculum", True),
        ("fedproto", "selection", "client_curriculum", True),
        ("adapter_bank", "selection", "client_curriculum", True),
        ("fedproto", "faults", "corrupt", True),
        ("fedproto", "faults", "crash", True),
        ("adapter_bank", "faults", "adversarial", True),
        ("fedproto", "lr", "fedhyper_g", False),
        ("fedproto", "lr", "fedhyper_gm", False),
        ("fedrecon", "lr", "fedhyper_full", False),
        ("fedrecon", "lr", "fedhyper_sl", False),
        ("adapter_bank", "curriculum", "tasks_runtime", False),
        ("fedproto", "faults", "adversarial", False),
        ("fedrecon", "faults", "corrupt", False),
        ("pilora", "curriculum", "data_curriculum", True),
        ("pilora", "faults", "corrupt", True),
        ("pilora", "lr", "fedhyper_cl", False),
        ("pilora", "curriculum", "tasks_runtime", False),
        ("pilora", "faults", "adversarial", False),
    ],
)
def test_decisions_of_the_issue(strategy, group, option, honoured):
    cfg = compose(f"strategy={strategy}", f"{group}={option}")
    if honoured:
        check_compatibility(cfg)
        return
    with pytest.raises(ConfigError) as err:
        check_compatibility(cfg)
    assert err.value.key == group
    assert f"{group}={option} cannot run with strategy={strategy}: " in str(err.value)


def test_weight_strategies_honour_every_option(options):
    _, opts = options
    weights = [s for s, spec in opts["strategy"].items() if spec["client_learner"] == "weights"]
    assert len(weights) >= 10
    for s in weights:
        for g in GROUPS:
            for o, spec in opts[g].items():
                # FOT's projected updates refuse server momentum (FedHyper-GM, -FULL) only
                momentum = s == "fot" and g == "lr" and spec.get("global_rule") == "gm"
                assert (refusal(opts["strategy"][s], spec) is None) != momentum, (s, g, o)


def test_fot_refuses_server_momentum_in_one_line():
    with pytest.raises(ConfigError, match="lr=fedhyper_gm cannot run with strategy=fot: server "
                       "momentum"):
        check_compatibility(compose("strategy=fot", "lr=fedhyper_gm"))
    check_compatibility(compose("strategy=fot", "lr=fedhyper_g"))  # a scalar server LR is fine


def test_overridden_option_values_change_the_decision():
    """Needs are read from the resolved values, not just the option's name."""
    check_compatibility(compose("strategy=fedproto", "lr=step"))
    with pytest.raises(ConfigError, match="lr=step cannot run with strategy=fedproto"):
        check_compatibility(compose("strategy=fedproto", "lr=step", "lr.target=server"))
    with pytest.raises(ConfigError, match="curriculum=data_curriculum .*adapter_avg"):
        check_compatibility(
            compose("strategy=adapter_avg", "curriculum=data_curriculum",
                    "curriculum.data.scoring=local")
        )
    check_compatibility(compose("strategy=fedrecon", "faults=corrupt", "strategy.freeze=false"))


def test_cli_refuses_before_ray_with_one_line(capsys, tmp_path):
    from fedsim.cli.main import precheck

    with pytest.raises(SystemExit) as stop:
        precheck(["strategy=fedproto", "lr=fedhyper_g", f"output.root={tmp_path}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fedsim: error: lr: lr=fedhyper_g cannot run with strategy=fedproto:")
    assert "\n" not in err


def test_markdown_table_lists_every_strategy_and_option():
    from fedsim.config.compatibility_table import markdown

    text = markdown(config_dir())
    for s in names("strategy"):
        assert f"| {s} |" in text
    for g in GROUPS:
        header = next(line for line in text.splitlines() if line.startswith("| strategy |")
                      and all(n in line for n in names(g)))
        assert header
    assert "no (1)" in text and "yes" in text


def test_docs_table_is_the_generated_one():
    from fedsim.config.compatibility_table import markdown
    from tests.conftest import REPO

    doc = (REPO / "docs" / "compatibility.md").read_text()
    assert doc.split("\n---\n\n", 1)[1] == markdown(config_dir())


def test_module_command_prints_the_table(monkeypatch, capsys):
    """``python -m fedsim.config.compatibility --markdown``, run in-process with runpy."""
    import runpy
    import sys
    import warnings

    from fedsim.config.compatibility_table import markdown

    monkeypatch.setattr(sys, "argv", ["compatibility", "--markdown"])
    with warnings.catch_warnings():  # runpy warns that the module was imported already
        warnings.simplefilter("ignore", RuntimeWarning)
        runpy.run_module("fedsim.config.compatibility", run_name="__main__")
    assert capsys.readouterr().out == markdown(config_dir())


def test_every_shipped_strategy_and_option_class_is_declared(options):
    from fedsim.config.compatibility import OPTIONS, STRATEGIES

    _, opts = options
    assert {spec["_target_"] for spec in opts["strategy"].values()} <= set(STRATEGIES)
    for g in GROUPS:
        assert {spec["_target_"] for spec in opts[g].values()} <= set(OPTIONS), g
