"""Acts whose occurrence is placed, kept as one packed ``bytes`` value each (95 bytes, not 280).

Why this exists: the graph keeps every act that named a Pod (or another child remembered for
its whole life) for the link horizon, an hour, so that the Pod's later Events find what
created or deleted it. At the end of a large replay they were the largest thing it held after
the seen table: 28,000 acts, 10 MB of the graph's 37 at the 1,000-Deployment spread's peak
(``make bench``), each a NamedAct with its Event's uid string, its span id, time and write
order as int objects. Once its occurrence is placed, an act never changes again: the graph
then keeps it packed here (its fields in 46 bytes, a canonical uid in 16), and the linker gets
a NamedAct made again, equal field for field, when it reads the child's acts. Most of those
reads come within seconds of the act, while it is still fresh; a Pod's deletion minutes later
reads its creation back, once.

What is not packed stays as it was: an act still pending (its trace not known yet), a
ScalingAct (it counts what it caused), and a value that does not fit (an Event count beyond
32 bits, a time beyond 64): the graph treats the two forms alike through ``acts_of`` and
``time_of``.
"""

from __future__ import annotations

import struct

from kspan_py.graph.linking import NamedAct, OccurrenceKey
from kspan_py.graph.rules import Relation

ActRecord = NamedAct | bytes
"""An act as the graph keeps it: fresh (a NamedAct) or settled (packed)."""

# span id, time, write order, trace id (high, low), Event count, relation, uid form
_FIELDS = struct.Struct("<QqqQQIBB")
_RELATIONS = tuple(Relation)
_RELATION_INDEX = {relation: index for index, relation in enumerate(_RELATIONS)}
_TIME = struct.Struct("<q")
_TIME_AT = 8
_LOW_64 = 0xFFFF_FFFF_FFFF_FFFF
_UID_RAW, _UID_TEXT = 0, 1  # a canonical UUID as its 16 bytes; any other uid as UTF-8 text
_HYPHENS = (8, 13, 18, 23)


def settled(act: NamedAct) -> ActRecord:
    """act packed, if it is placed and plain; else act itself."""
    if type(act) is not NamedAct or not act.trace_id:
        return act
    uid = act.uid
    raw = _uuid_bytes(uid)
    try:
        fields = _FIELDS.pack(
            act.span_id,
            act.time_ns,
            act.resource_version,
            act.trace_id >> 64,
            act.trace_id & _LOW_64,
            act.number,
            _RELATION_INDEX[act.relation],
            _UID_TEXT if raw is None else _UID_RAW,
        )
    except struct.error:  # a field beyond what the record holds: kept as it is
        return act
    # (surrogatepass: a lone surrogate, which a hostile capture's JSON can hold, round-trips)
    return fields + (uid.encode("utf-8", "surrogatepass") if raw is None else raw)


def unpacked(record: ActRecord) -> NamedAct:
    """The act a record keeps, as a NamedAct equal to the one that was packed."""
    if not isinstance(record, bytes):
        return record
    span_id, time_ns, version, high, low, number, relation, form = _FIELDS.unpack_from(record)
    tail = record[_FIELDS.size :]
    uid = _uuid_text(tail) if form == _UID_RAW else tail.decode("utf-8", "surrogatepass")
    act = NamedAct(OccurrenceKey(uid, number), span_id, time_ns, version, _RELATIONS[relation])
    act.trace_id = (high << 64) | low
    return act


def acts_of(records: tuple[ActRecord, ...]) -> tuple[NamedAct, ...]:
    """The acts of one name, each as a NamedAct (fresh ones are the graph's own objects)."""
    for record in records:
        if isinstance(record, bytes):
            return tuple(map(unpacked, records))
    return records  # type: ignore[return-value]  # (no packed record among them)


def time_of(record: ActRecord) -> int:
    """An act's time, read without unpacking it."""
    if isinstance(record, bytes):
        time_ns: int = _TIME.unpack_from(record, _TIME_AT)[0]
        return time_ns
    return record.time_ns


def _uuid_bytes(uid: str) -> bytes | None:
    """A uid's 16 bytes when it is a UUID in its canonical text (lowercase, hyphenated), the
    form the API server writes; None for any other text, kept as it is."""
    if len(uid) != 36 or any(uid[at] != "-" for at in _HYPHENS):
        return None
    try:
        raw = bytes.fromhex(uid.replace("-", ""))
    except ValueError:
        return None
    return raw if _uuid_text(raw) == uid else None


def _uuid_text(raw: bytes) -> str:
    """A UUID's canonical text from its 16 bytes."""
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
