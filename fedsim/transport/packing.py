"""Pack several virtual clients' messages into one Flower message, and unpack them.

Flower's simulation engine costs ~10 ms per message and polls every node each 0.1 s; carrying
``k`` virtual clients per message divides that overhead by ``k`` and sends a shared global model
once per message instead of once per client. Strategies never see packs: the VirtualGrid packs
what they configured and unpacks the replies into one Message per client.
"""

from __future__ import annotations

from flwr.app import ArrayRecord, ConfigRecord, RecordDict

from fedsim import wire


def pack(contents: list[RecordDict]) -> RecordDict:
    """Pack per-client contents; a record shared (by identity) by all clients travels once.

    The global model, and e.g. an LR controller's update vector, are the same object in every
    client's content, so a pack of ``k`` clients carries them once instead of ``k`` times.
    """
    first = contents[0]
    shared = [
        key for key, record in first.items()
        if all(c.get(key) is record for c in contents[1:])
    ] if len(contents) > 1 else [k for k in first.array_records]
    meta = {wire.PACK_SIZE: len(contents), wire.PACK_SHARED_KEYS: shared or [""]}
    out = RecordDict({wire.PACK: ConfigRecord(meta)})
    for key in shared:
        out[key] = first[key]
    for i, content in enumerate(contents):
        for key, record in content.items():
            if key not in shared:
                out[wire.packed(i, key)] = record
    return out


def is_packed(content: RecordDict) -> bool:
    """Whether a message content is a pack."""
    return wire.PACK in content.config_records


def unpack(content: RecordDict) -> list[RecordDict]:
    """Split a pack into per-client contents (shared records are referenced, not copied)."""
    meta = content[wire.PACK]
    size = int(meta[wire.PACK_SIZE])
    shared = [k for k in meta.get(wire.PACK_SHARED_KEYS, [""]) if k]
    parts: list[dict] = [{key: content[key] for key in shared} for _ in range(size)]
    for key, record in content.items():
        if key == wire.PACK or key in shared or not key.startswith("p"):
            continue
        head, _, rest = key.partition(".")
        parts[int(head[1:])][rest] = record
    return [RecordDict(p) for p in parts]


def pack_replies(replies: list[RecordDict | str]) -> RecordDict:
    """Pack per-client replies; a string is that client's error reason."""
    meta = {wire.PACK_SIZE: len(replies), wire.PACK_SHARED_KEYS: [""]}
    out = RecordDict({wire.PACK: ConfigRecord(meta)})
    for i, reply in enumerate(replies):
        if isinstance(reply, str):
            out[wire.packed(i, wire.PACK_ERROR)] = ConfigRecord({wire.PACK_REASON: reply})
        else:
            for key, record in reply.items():
                out[wire.packed(i, key)] = record
    return out


def reply_error(content: RecordDict) -> str | None:
    """The error reason of an unpacked per-client reply, if it is one."""
    rec = content.config_records.get(wire.PACK_ERROR)
    return None if rec is None else str(rec[wire.PACK_REASON])


__all__ = ["ArrayRecord", "is_packed", "pack", "pack_replies", "reply_error", "unpack"]
