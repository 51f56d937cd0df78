import numpy as np

from scenarios.class_incremental import class_incremental
from scenarios.domain_incremental import domain_incremental
from scenarios.summary import plan_markdown, plan_table
from scenarios.task_incremental import task_incremental


def test_summary_rows_for_every_kind(digits):
    for gen in (class_incremental, task_incremental, domain_incremental):
        p = gen(train_labels=digits.y_train, test_labels=digits.y_test, seed=0, num_clients=3,
                recur_prob=1.0, max_gap=1)
        rows = plan_table(p, digits.y_train)
        for row, st in zip(rows, p.streams, strict=True):
            assert row["order"] == [s.task_id for s in st.slots]
            assert row["arrival"] == st.slots[0].start_round
            assert row["samples"] == [len(s.train_idx) for s in st.slots]
            held = np.unique(np.concatenate([s.train_idx for s in st.slots]))
            assert sum(row["labels"]) == len(held)
        text = plan_markdown(p, labels=digits.y_train)
        assert p.kind in text and "| labels |" in text
        assert ("task id at test time: yes" in text) == p.task_incremental


def test_markdown_truncates_large_federations(digits):
    p = class_incremental(train_labels=digits.y_train, test_labels=digits.y_test, seed=0,
                          num_clients=60, num_tasks=2)
    text = plan_markdown(p, max_clients=5)
    assert "55 more clients" in text and text.count("\n| 4 |") == 1
