import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from fedsim import wire
from fedsim.transport import packing


def _content(cid, arrays):
    return RecordDict(
        {
            wire.ARRAYS: arrays,
            wire.CONFIG: ConfigRecord({wire.CLIENT_ID: cid, "lr": 0.1}),
            wire.CLIENT_STATE: ConfigRecord({wire.ROUNDS_TRAINED: cid}),
        }
    )


def test_pack_roundtrip_sends_shared_arrays_once():
    shared = ArrayRecord({"w": Array(np.arange(6, dtype=np.float32).reshape(2, 3))})
    contents = [_content(c, shared) for c in (3, 5, 9)]
    packed = packing.pack(contents)
    assert packing.is_packed(packed)
    assert len(packed.array_records) == 1  # the model travels once for three clients
    parts = packing.unpack(packed)
    assert [int(p[wire.CONFIG][wire.CLIENT_ID]) for p in parts] == [3, 5, 9]
    assert [int(p[wire.CLIENT_STATE][wire.ROUNDS_TRAINED]) for p in parts] == [3, 5, 9]
    for p in parts:
        np.testing.assert_array_equal(p[wire.ARRAYS]["w"].numpy(), shared["w"].numpy())


def test_pack_with_distinct_arrays_keeps_each():
    a = ArrayRecord({"w": Array(np.zeros(2, dtype=np.float32))})
    b = ArrayRecord({"w": Array(np.ones(2, dtype=np.float32))})
    parts = packing.unpack(packing.pack([_content(0, a), _content(1, b)]))
    assert parts[0][wire.ARRAYS]["w"].numpy().tolist() == [0, 0]
    assert parts[1][wire.ARRAYS]["w"].numpy().tolist() == [1, 1]


def test_packed_replies_carry_per_client_errors():
    ok = RecordDict({wire.METRICS: MetricRecord({wire.NUM_EXAMPLES: 3})})
    parts = packing.unpack(packing.pack_replies([ok, "ValueError: boom", ok]))
    assert packing.reply_error(parts[0]) is None
    assert packing.reply_error(parts[1]) == "ValueError: boom"
    assert int(parts[2][wire.METRICS][wire.NUM_EXAMPLES]) == 3
