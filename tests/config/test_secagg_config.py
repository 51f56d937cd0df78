"""``privacy.secagg`` (SecAgg+): its knobs, the engine and what it refuses, each in one line."""

from __future__ import annotations

import pytest

from fedsim.config.compatibility import RULES
from fedsim.config.privacy import check_privacy
from fedsim.config.secagg import SIMULATION_REASON
from fedsim.config.validate import validate_values
from fedsim.errors import ConfigError
from fedsim.server.secagg import SecAggSettings
from tests.conftest import compose

DEPLOY = {"engine": "deployment"}
SECURE_SUM = next(r.reason for r in RULES if r.need == "secure_sum")


def refusal(*overrides: str, engine: str = "deployment") -> ConfigError:
    with pytest.raises(ConfigError) as err:
        validate_values(compose(*overrides), engine=engine)
    assert "\n" not in str(err.value)
    return err.value


def test_simulation_is_refused_saying_why():
    err = refusal("privacy=secagg", engine="simulation")
    assert err.key == "privacy.secagg" and SIMULATION_REASON in str(err)
    assert "share Flower nodes" in str(err)


@pytest.mark.parametrize("strategy", ["fedavg", "fedprox", "fedlwf", "fedewc", "replay"])
def test_weighted_mean_strategies_run_on_the_deployment_engine(strategy):
    validate_values(compose("privacy=secagg", f"strategy={strategy}"), **DEPLOY)


@pytest.mark.parametrize(
    "strategy", ["krum", "fedmedian", "fedadam", "fedproto", "adapter_bank", "fot", "target"]
)
def test_strategies_that_read_each_reply_are_refused_naming_both(strategy):
    err = refusal("privacy=secagg", f"strategy={strategy}")
    assert err.key == "privacy"
    assert (
        f"privacy=secagg cannot run with strategy={strategy}: {SECURE_SUM}"
        == str(err).split(": ", 1)[1]
    )


@pytest.mark.parametrize("option", ["dp_sgd", "local_dp"])
def test_client_side_dp_composes_with_secagg(option):
    check_privacy(compose(f"privacy={option}", "privacy.secagg=true"), opacus=True, **DEPLOY)


def test_central_dp_is_refused():
    err = refusal("privacy=central_fixed", "privacy.secagg=true")
    assert err.key == "privacy.secagg" and "clips each client's update" in str(err)


def test_faults_are_refused_naming_the_option():
    err = refusal("privacy=secagg", "faults=crash")
    assert err.key == "privacy.secagg" and "faults=crash cannot run" in str(err)


def test_one_client_is_refused():
    err = refusal("privacy=secagg", "scenario.num_clients=1")
    assert err.key == "privacy.secagg" and "at least 2 clients" in str(err)


@pytest.mark.parametrize(
    ("override", "key", "text"),
    [
        ("privacy.secagg=maybe", "privacy.secagg", "true or false"),
        ("privacy.secagg_params.num_shares=2", "num_shares", "> 2"),
        ("privacy.secagg_params.num_shares=1.5", "num_shares", "(0, 1]"),
        ("privacy.secagg_params.reconstruction_threshold=3", "reconstruction_threshold", "< num"),
        ("privacy.secagg_params.reconstruction_threshold=1", "reconstruction_threshold", ">= 2"),
        ("privacy.secagg_params.clipping_range=0", "clipping_range", "> 0"),
        ("privacy.secagg_params.max_weight=-1", "max_weight", "> 0"),
        ("privacy.secagg_params.quantization_range=4294967296", "quantization_range", "2**32"),
        ("privacy.secagg_params.quantization_range=0.5", "quantization_range", "integer"),
        ("+privacy.secagg_params.modulus=3", "modulus", "unknown key"),
    ],
)
def test_bad_knobs_name_the_key(override, key, text):
    err = refusal("privacy=secagg", override)
    assert err.key.endswith(key) and text in str(err), str(err)


def test_knobs_are_checked_even_when_secagg_is_off():
    err = refusal("privacy.secagg_params.num_shares=0", engine="simulation")
    assert err.key == "privacy.secagg_params.num_shares"


def test_settings_build_flowers_workflow_with_the_knobs():
    cfg = compose(
        "privacy=secagg",
        "privacy.secagg_params.num_shares=0.5",
        "privacy.secagg_params.clipping_range=2.0",
    )
    settings = SecAggSettings.from_config(cfg)
    wf = settings.workflow(timeout=5.0)
    assert (wf.num_shares, wf.reconstruction_threshold) == (0.5, 2)
    assert (wf.clipping_range, wf.quantization_range, wf.max_weight) == (2.0, 2**22, 1000.0)
    assert wf.timeout == 5.0
    assert SecAggSettings.from_config(compose()) is None


def test_a_retry_on_too_few_replies_is_refused():
    err = refusal("privacy=secagg", "federation.on_too_few=retry")
    assert err.key == "federation.on_too_few" and "second SecAgg+ protocol" in str(err)


def test_unused_secagg_knobs_leave_the_checkpoint_fingerprint_as_before():
    """A DP run checkpointed before the knobs existed still resumes; SecAgg+ runs differ."""
    from fedsim.server.state import config_fingerprint

    cfg = compose("privacy=dp_sgd")
    before = {**cfg, "privacy": {k: v for k, v in cfg["privacy"].items() if k != "secagg_params"}}
    assert config_fingerprint(cfg)[0] == config_fingerprint(before)[0]
    secure = compose("privacy=dp_sgd", "privacy.secagg=true")
    assert config_fingerprint(secure)[0] != config_fingerprint(cfg)[0]
    assert config_fingerprint(compose("privacy=secagg"))[0] != config_fingerprint(compose())[0]
