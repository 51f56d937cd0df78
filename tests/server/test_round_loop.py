"""The round loop over the virtual grid, on a fake Flower Grid running the real ClientApp.

No Ray: :class:`tests.fake_grid.FakeGrid` answers each message in-process with fedsim's real
ClientApp, so the numbers are a real run's. Each test compares ``summary.json`` of whole runs
(``run_server`` drives ``RoundLoop.run``) or reads its per-round history.
"""

from __future__ import annotations

import json

import pytest
from flwr.app import MessageType

from fedsim.errors import RoundError
from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round
from fedsim.transport import packing
from tests.conftest import SMALL, compose
from tests.fake_grid import EngineStoppedError, client_ids, run_on_fake_grid, server_round
from tests.server import resume_cases

FAST = [*SMALL, "train.epochs=1"]  # 4 clients, 2 tasks; 3 rounds, cohorts [0,3] [0-3] [1,2]
def comparable(summary: dict) -> str:
    """The summary without wall-clock values, as canonical JSON (NaN compares equal)."""
    return json.dumps(resume_cases.comparable(summary), sort_keys=True)


def cfg_of(tmp_path, *overrides: str) -> dict:
    return compose(*FAST, *overrides, f"output.root={tmp_path}")


def train_of(rnd: int, *clients: int):
    """Predicate: a train message of round ``rnd`` carrying any of ``clients``."""

    def pick(msg) -> bool:
        return (
            msg.metadata.message_type == MessageType.TRAIN
            and server_round(msg) == rnd
            and bool(set(client_ids(msg)) & set(clients))
        )

    return pick


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run (seed 0), shared by the comparisons below."""
    root = tmp_path_factory.mktemp("reference")
    summary, _ = run_on_fake_grid(cfg_of(root), root / "run")
    return summary


def test_reference_run_learns_and_reports_every_round(reference):
    assert reference["status"] == "completed" and reference["rounds"] == 3
    assert [r["clients_trained"] for r in reference["history"]] == [2, 4, 2]
    assert reference["rejected_replies"] == 0 and reference["late_replies_dropped"] == 0
    assert reference["final"]["acc"] > 0.3  # two tasks of two digits: it learns something
    assert len(reference["central_matrix"]) == 4  # round 0 + 3 rounds


def test_same_seed_same_summary_other_seed_differs(reference, tmp_path):
    again, _ = run_on_fake_grid(cfg_of(tmp_path), tmp_path / "again")
    assert comparable(again) == comparable(reference)
    other, _ = run_on_fake_grid(cfg_of(tmp_path, "seed=1"), tmp_path / "other")
    assert other["central_matrix"] != reference["central_matrix"]


def test_reply_order_cannot_change_the_result(reference, tmp_path):
    shuffled, grid = run_on_fake_grid(cfg_of(tmp_path), tmp_path / "run", shuffle_seed=3)
    assert grid.reordered > 0, "the fake engine must actually reorder some replies"
    assert comparable(shuffled) == comparable(reference)


def test_packing_clients_into_fewer_messages_gives_the_same_result(reference, tmp_path):
    packed, grid = run_on_fake_grid(cfg_of(tmp_path), tmp_path / "run", max_messages=1)
    train = [m for m in grid.sent if m.metadata.message_type == MessageType.TRAIN]
    assert len(train) == 3, "one Flower message per round carries the whole cohort"
    assert all(packing.is_packed(m.content) for m in train if len(client_ids(m)) > 1)
    assert [client_ids(m) for m in train] == [[0, 3], [0, 1, 2, 3], [1, 2]]
    assert comparable(packed) == comparable(reference)


def test_late_reply_is_missing_then_dropped_never_aggregated(tmp_path):
    cfg = cfg_of(tmp_path, "federation.round_timeout=30")
    summary, grid = run_on_fake_grid(cfg, tmp_path / "run", hold=train_of(2, 0))
    r2, r3 = summary["history"][1], summary["history"][2]
    assert r2["missing"] == [0] and r2["clients_trained"] == 3
    assert r2["rejected"] == {"0": "no reply before the round deadline"}
    assert r3["late_dropped"] == 1 and summary["late_replies_dropped"] == 1
    assert summary["rejected_replies"] == 1
    queries = [m for m in grid.sent if m.metadata.message_type == MessageType.QUERY]
    assert len(queries) == 2, "a run with a deadline warms every node up first"


def test_error_reply_is_rejected_naming_the_client(tmp_path):
    summary, _ = run_on_fake_grid(cfg_of(tmp_path), tmp_path / "run", fail=train_of(2, 1))
    r2 = summary["history"][1]
    assert set(r2["rejected"]) == {"1"} and "the node failed" in r2["rejected"]["1"]
    assert r2["unexpected"] == [1] and r2["clients_trained"] == 3
    assert summary["rejected_replies"] == 1
    assert [(e["round"], e["attempt"]) for e in summary["rejected_by_client"]["1"]] == [(2, 0)]
    assert summary["status"] == "degraded" and "rejected" in summary["status_reason"]


def test_injected_crash_is_rejected_but_expected(tmp_path):
    cfg = cfg_of(tmp_path, "faults=crash", "faults.crash=0.5", "seed=3")
    summary, _ = run_on_fake_grid(cfg, tmp_path / "run")
    crashed = {
        (r["round"], int(c)): why for r in summary["history"] for c, why in r["rejected"].items()
    }
    assert crashed and all("injected crash" in why for why in crashed.values())
    assert all(r["unexpected"] == [] for r in summary["history"])
    assert summary["faults_injected"]["crash"] == len(crashed)
    assert summary["status"] == "completed"


def test_too_few_replies_skip_keeps_the_global_model(tmp_path):
    cfg = cfg_of(tmp_path, "federation.min_replies=2", "federation.on_too_few=skip")
    summary, _ = run_on_fake_grid(cfg, tmp_path / "run", fail=train_of(1, 3))
    r1 = summary["history"][0]
    assert "1 valid replies, fewer than federation.min_replies=2" in r1["skipped"]
    assert "client 3" in r1["skipped"]
    assert summary["central_matrix"][1] == summary["central_matrix"][0]
    assert summary["skipped_rounds"] == [1]


def test_too_few_replies_stop_raises_and_keeps_the_last_checkpoint(tmp_path):
    cfg = cfg_of(tmp_path, "federation.min_replies=2", "federation.on_too_few=stop")
    with pytest.raises(RoundError, match=r"round 2: 1 valid replies.*on_too_few=stop"):
        run_on_fake_grid(cfg, tmp_path / "run", fail=train_of(2, 0, 1, 2))
    assert checkpoint_round(tmp_path / "run" / CHECKPOINT_NAME) == 1


def test_too_few_replies_retry_asks_the_failed_client_again(tmp_path):
    cfg = cfg_of(tmp_path, "federation.min_replies=2", "federation.on_too_few=retry")
    seen: set[tuple[int, int]] = set()

    def first_try_of_client_3(msg) -> bool:
        if not train_of(1, 3)(msg) or (1, 3) in seen:
            return False
        seen.add((1, 3))
        return True

    summary, _ = run_on_fake_grid(cfg, tmp_path / "run", fail=first_try_of_client_3)
    r1 = summary["history"][0]
    assert r1["retry"]["cohort"] == [3] and r1["retry"]["rejected"] == {}
    assert "skipped" not in r1 and r1["clients_trained"] == 2
    assert set(r1["rejected"]) == {"3"}


@pytest.mark.parametrize(
    "family",
    [
        [],
        ["strategy=fedadam", "lr=fedhyper_gm", "faults=crash", "faults.crash=0.2", "seed=3"],
    ],
    ids=["fedavg", "fedadam_fedhyper_gm_crash"],
)
def test_checkpoint_each_round_and_resume_equals_uninterrupted(family, reference, tmp_path):
    cfg = cfg_of(tmp_path, *family)
    whole = reference if not family else run_on_fake_grid(cfg, tmp_path / "whole")[0]
    run_dir = tmp_path / "stopped"
    with pytest.raises(EngineStoppedError):  # sends: 1-2 round 1 (train, eval), 3 round 2
        run_on_fake_grid(cfg, run_dir, stop_before_send=3)
    assert checkpoint_round(run_dir / CHECKPOINT_NAME) == 1
    assert not (run_dir / "summary.json").exists()
    resumed, _ = run_on_fake_grid(cfg, run_dir, resume=True)
    assert resumed["resumed_from_round"] == 1
    assert comparable(resumed) == comparable(whole)


def test_local_scoring_data_curriculum_aggregates(tmp_path):
    """Under ``scoring=local`` some clients have a local model and some not yet: every reply
    must still carry the same metric keys (Flower refuses to aggregate otherwise)."""
    cfg = cfg_of(
        tmp_path, "curriculum=data_curriculum", "curriculum.data.scoring=local",
        "scenario.rounds_per_task=2",
    )  # fmt: skip
    summary, _ = run_on_fake_grid(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    assert sum(h["clients_trained"] for h in summary["history"]) > 0
    assert all(h["failures"] == 0 and "skipped" not in h for h in summary["history"])
    assert summary["rejected_replies"] == 0


def test_a_strategy_reason_naming_its_client_is_recorded_once(tmp_path):
    """Strategies' check_reply name the client ("client 3: ..."); the record and the reports
    add that prefix themselves, so the stored reason must not carry it (no "client 3: client
    3: ...")."""
    from fedsim.server.train_exchange import bare_reason, first_rejected

    reason = bare_reason(3, "client 3: reply key 'arrays.proto.means': embedding dim 32")
    assert reason == "reply key 'arrays.proto.means': embedding dim 32"
    assert first_rejected({3: reason, 5: "x"}).startswith("client 3: reply key")
    assert bare_reason(3, "client 30: other") == "client 30: other"  # another client: kept
    assert bare_reason(3, "no reply before the round deadline") == (
        "no reply before the round deadline")
