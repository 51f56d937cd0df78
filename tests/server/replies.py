"""Real flwr reply Messages for validation tests (no ServerApp needed)."""

from flwr.app import ArrayRecord, Message, Metadata, MetricRecord, RecordDict

from fedsim import wire


def _metadata(message_id: str = "m1") -> Metadata:
    return Metadata(
        run_id=1,
        message_id="r-" + message_id,
        src_node_id=2,
        dst_node_id=0,
        reply_to_message_id=message_id,
        group_id="1",
        created_at=0.0,
        ttl=3600.0,
        message_type="train",
    )


def make_reply(
    arrays: ArrayRecord | None, metrics: dict | None = None, records: dict | None = None
) -> Message:
    """A train reply with ``arrays`` and a MetricRecord (num-examples 10 by default)."""
    content = RecordDict()
    if arrays is not None:
        content[wire.ARRAYS] = arrays
    if metrics is None:
        metrics = {wire.NUM_EXAMPLES: 10}
    if metrics is not False:
        content[wire.METRICS] = MetricRecord(metrics)
    for key, rec in (records or {}).items():
        content[key] = rec
    return Message(content=content, metadata=_metadata())
