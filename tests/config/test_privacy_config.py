"""The privacy group: every strategy x privacy option accepted or refused in one line."""

from __future__ import annotations

import pytest

from fedsim.config.compose import config_dir
from fedsim.config.privacy import check_privacy
from fedsim.config.validate import validate_objects, validate_values
from fedsim.errors import ConfigError
from tests.conftest import compose

WEIGHTS = ("fedavg", "fedprox", "fedadam", "fedmedian", "krum")


def names(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def test_the_group_has_the_documented_options():
    assert names("privacy") == [
        "central_adaptive", "central_fixed", "dp_sgd", "local_dp", "none", "prototypes", "secagg",
    ]


@pytest.fixture(scope="module")
def parts() -> tuple[dict, dict[str, dict], dict[str, dict]]:
    """The default config, every strategy and every privacy option, each composed once."""
    base = compose()
    strategies = {n: compose(f"strategy={n}")["strategy"] for n in names("strategy")}
    options = {n: compose(f"privacy={n}")["privacy"] for n in names("privacy")}
    return base, strategies, options


def cfg_of(parts, strategy: str, option: str) -> dict:
    base, strategies, options = parts
    return {**base, "strategy": strategies[strategy], "privacy": options[option]}


@pytest.mark.parametrize("option", ["central_fixed", "central_adaptive", "local_dp", "dp_sgd"])
@pytest.mark.parametrize("strategy", WEIGHTS)
def test_weight_strategies_accept_update_privacy(parts, strategy, option):
    validate_values(cfg_of(parts, strategy, option))


@pytest.mark.parametrize("option", ["central_fixed", "local_dp", "dp_sgd"])
@pytest.mark.parametrize("strategy", ["fedproto", "fedrecon", "adapter_avg"])
def test_non_weight_strategies_are_refused_naming_both(parts, strategy, option):
    with pytest.raises(ConfigError, match=f"privacy={option} cannot run with strategy={strategy}"):
        check_privacy(cfg_of(parts, strategy, option), opacus=True)


@pytest.mark.parametrize("strategy", ["fedlwf", "fedewc", "replay"])
def test_dp_sgd_refuses_data_dependent_loss_terms(parts, strategy):
    with pytest.raises(ConfigError, match="data-dependent terms"):
        check_privacy(cfg_of(parts, strategy, "dp_sgd"), opacus=True)


def test_prototype_noise_needs_a_prototype_strategy(parts):
    check_privacy(cfg_of(parts, "fedrecon", "prototypes"))
    check_privacy(cfg_of(parts, "fedproto", "prototypes"))
    with pytest.raises(ConfigError, match="prototype noise needs a prototype strategy"):
        check_privacy(cfg_of(parts, "fedavg", "prototypes"))


def test_dp_sgd_without_opacus_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"pip install 'fedsim\[privacy\]'") as err:
        check_privacy(compose("privacy=dp_sgd"), opacus=False)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("privacy.noise_multiplier=-1", "privacy.noise_multiplier"),
        ("privacy.clip_norm=0", "privacy.clip_norm"),
        ("privacy.delta=1.5", "privacy.delta"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        check_privacy(compose("privacy=dp_sgd", override), opacus=True)


def test_local_epsilon_must_be_below_one():
    with pytest.raises(ConfigError, match="privacy.epsilon"):
        check_privacy(compose("privacy=local_dp", "privacy.epsilon=2.0"))


def test_dp_sgd_refuses_a_batch_norm_model():
    cfg = compose("privacy=dp_sgd", "model=resnet18", "data=synthetic")
    with pytest.raises(ConfigError, match="BatchNorm"):
        validate_objects(cfg)
