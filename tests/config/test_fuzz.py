"""Fuzz: many generated bad configs and bad replies; each gives a clear message, none crashes."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Error, Message, MetricRecord

from fedsim import wire
from fedsim.cli.main import precheck
from fedsim.config.validate import validate
from fedsim.errors import ConfigError
from fedsim.server.reply_checks import check_train_reply
from tests.config import bad_inputs
from tests.conftest import SMALL, compose
from tests.server.replies import _metadata, make_reply

# (override, the key the one-line error must name)
BAD_VALUES = [
    ("train.lr=-1", "train.lr"),
    ("train.lr=0", "train.lr"),
    ("train.lr=abc", "train.lr"),
    ("train.epochs=0", "train.epochs"),
    ("train.batch_size=-3", "train.batch_size"),
    ("train.momentum=-0.5", "train.momentum"),
    ("train.weight_decay=-1", "train.weight_decay"),
    ("train.optimizer=rmsprop", "train.optimizer"),
    ("federation.fraction_train=0", "federation.fraction_train"),
    ("federation.fraction_train=1.5", "federation.fraction_train"),
    ("federation.min_clients=0", "federation.min_clients"),
    ("federation.min_replies=0", "federation.min_replies"),
    ("federation.min_replies=1000", "federation.min_replies"),
    ("federation.min_replies=x", "federation.min_replies"),
    ("federation.on_too_few=panic", "federation.on_too_few"),
    ("federation.round_timeout=0", "federation.round_timeout"),
    ("federation.round_timeout=-5", "federation.round_timeout"),
    ("federation.max_clients=0", "federation.max_clients"),
    ("eval.central_every=0", "eval.central_every"),
    ("eval.client_fraction=2", "eval.client_fraction"),
    ("backend.client_cpus=0", "backend.client_cpus"),
    ("backend.client_gpus=-1", "backend.client_gpus"),
    ("backend.num_nodes=0", "backend.num_nodes"),
    ("backend.name=k8s", "backend.name"),
    ("num_rounds=0", "num_rounds"),
    ("scenario.num_clients=0", "scenario.num_clients"),
    ("output.checkpoint_every=0", "output.checkpoint_every"),
    ("output.checkpoint_every=-2", "output.checkpoint_every"),
    ("faults=nosuch", "faults"),
    ("strategy=nosuch", "strategy"),
]
GOOD_VALUES = ["train.lr=0.05", "seed=4", "federation.on_too_few=retry", "strategy=fedmedian"]


def _cases(n=40, seed=0):
    rng = np.random.default_rng(seed)
    cases = [[bad] for bad in BAD_VALUES]
    for _ in range(n):
        k = int(rng.integers(1, 4))
        picks = [BAD_VALUES[i] for i in rng.choice(len(BAD_VALUES), size=k, replace=False)]
        good = [GOOD_VALUES[i] for i in rng.choice(len(GOOD_VALUES), size=2, replace=False)]
        cases.append(picks + [(g, None) for g in good])
    return cases


@pytest.mark.parametrize("case", _cases(), ids=lambda c: ",".join(o for o, _ in c))
def test_bad_config_is_one_line_naming_a_bad_key(case, capsys, tmp_path):
    overrides = [o for o, _ in case]
    keys = [k for _, k in case if k]
    with pytest.raises(SystemExit) as exit_info:
        precheck([*overrides, f"output.root={tmp_path}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fedsim: error:"), err
    assert any(k in err[0] for k in keys), (err[0], keys)


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["faults=crash", "faults.crash=2"], "faults.crash"),
        (["faults=corrupt", "faults.nan=0.9", "faults.inf=0.9"], "sum"),
        (["faults=adversarial", "faults.adversarial_mode=flip"], "adversarial_mode"),
        (["faults=adversarial", "faults.adversarial_scale=-1"], "adversarial_scale"),
        (["faults=stragglers", "faults.straggler_delay_s=0"], "straggler_delay_s"),
        (["faults=crash", "+faults.bogus=1"], "bogus"),
        (["strategy=bulyan", "scenario.num_clients=6"], "strategy.num_malicious_nodes"),
        (["strategy=krum", "federation.max_clients=4"], "strategy.num_malicious_nodes"),
        (["strategy=fedtrimmedavg", "strategy.beta=0.7"], "strategy"),
        (["federation.max_clients=2", "federation.min_clients=3"], "federation.max_clients"),
    ],
)
def test_bad_object_settings_name_the_key(overrides, needle, tmp_path):
    cfg = compose(*SMALL, *overrides, f"output.root={tmp_path}")
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def _ref():
    return ArrayRecord(
        {"w": Array(np.ones((3, 2), np.float32)), "b": Array(np.zeros(2, np.float32))}
    )


def _mutations(rng):
    """Yield (name, reply) pairs: real flwr Messages, each broken in one or more ways."""

    def arrays_with(**changes):
        vals = {"w": np.ones((3, 2), np.float32), "b": np.zeros(2, np.float32)}
        for k, v in changes.items():
            if v is None:
                vals.pop(k)
            else:
                vals[k] = v
        return ArrayRecord({k: Array(v) for k, v in vals.items()})

    w = np.ones((3, 2), np.float32)
    poisoned = w.copy()
    poisoned.reshape(-1)[int(rng.integers(6))] = rng.choice([np.nan, np.inf, -np.inf])
    yield "poisoned", make_reply(arrays_with(w=poisoned))
    yield "wrong_shape", make_reply(arrays_with(w=np.ones((int(rng.integers(4, 9)), 2))))
    yield "flat", make_reply(arrays_with(w=np.ones(6, np.float32)))
    yield "missing_key", make_reply(arrays_with(b=None))
    yield "extra_key", make_reply(arrays_with(extra=np.ones(1)))
    yield "no_arrays", make_reply(None)
    yield "no_metrics", make_reply(arrays_with(), metrics=False)
    bad_ns = [0, -1, -0.5, float("nan"), float("inf")]
    bad_n = bad_ns[int(rng.integers(len(bad_ns)))]
    yield f"num_examples={bad_n!r}", make_reply(arrays_with(), {wire.NUM_EXAMPLES: bad_n})
    yield "num_examples_list", make_reply(arrays_with(), {wire.NUM_EXAMPLES: [1, 2]})
    yield "no_num_examples", make_reply(arrays_with(), {"train-loss": 0.1})
    yield "extra_arrayrecord", make_reply(arrays_with(), records={"other": arrays_with()})
    yield "extra_metricrecord", make_reply(arrays_with(), records={"other": MetricRecord({"a": 1})})
    yield "config_as_arrays", make_reply(None, records={wire.ARRAYS: ConfigRecord({"w": 1})})
    yield "error", Message(error=Error(code=3, reason="ClientApp raised"), metadata=_metadata())


@pytest.mark.parametrize("seed", range(25))
def test_bad_replies_get_a_reason_and_never_crash(seed):
    rng = np.random.default_rng(seed)
    ref = _ref()
    for name, reply in _mutations(rng):
        for reference in (ref, None):
            reason = check_train_reply(reply, reference)
            if reference is None and name in ("wrong_shape", "flat", "missing_key", "extra_key"):
                continue  # without a reference, shapes and keys are the strategy's business
            if reference is None and name.startswith("extra_"):
                continue
            assert isinstance(reason, str) and reason, (name, reference is None)
            assert not reason.startswith("unreadable"), (name, reason)
    assert check_train_reply(make_reply(_ref()), ref) is None


# --- the whole command line, in-process: >= 100 generated bad invocations -----------------
GENERATED = bad_inputs.cases()


def test_enough_generated_bad_invocations():
    assert len(GENERATED) >= 100
    assert len({" ".join(args) for args, _ in GENERATED}) == len(GENERATED)


@pytest.mark.parametrize(
    "args, key", GENERATED, ids=lambda v: " ".join(v)[:70] if isinstance(v, list) else None
)
def test_generated_bad_invocation_is_one_line_before_ray(args, key, tmp_path):
    """Exit 2, one line naming the key, no traceback, Ray not left running, nothing written.

    A bad value never starts Ray; a bad object setting (found by the dry build) may come after
    the command's early Ray start, which must then be shut down again (``after_ray`` if not).
    """
    root = tmp_path / "runs"
    kind, err = bad_inputs.classify(args, key, root)
    assert kind == "one_line", (kind, err[-2000:])
    assert "Traceback" not in err
    assert not root.exists() or not any(root.iterdir()), sorted(root.rglob("*"))
