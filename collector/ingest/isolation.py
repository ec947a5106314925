"""No message stops ingest: a batch is committed whole, or message by message with the faulty
ones quarantined.

``commit_isolated`` wraps ``Writer.commit`` (all or nothing for one batch) with three rules:

1. Before anything is written, a sample whose id is already stored (or earlier in the batch)
   with another device or other image bytes becomes ``Rejected`` (``id_conflict``); an
   identical copy stays a harmless redelivery. So a conflicting copy never writes a blob.
2. A storage fault (disk full, I/O error, database locked or damaged) is raised as
   ``StorageError``: nothing of the batch is acknowledged and the caller retries it later.
3. Anything else raised while storing (a message the validation let through that the store
   cannot take) rolls the batch back; then every message is committed on its own, and one that
   still fails is quarantined as ``internal`` with the error. The rest of the batch is stored
   and every message can be acknowledged.

Blobs written for messages that end up not stored are removed again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from facetrove.collector.ingest.validate import Accepted, Outcome, Rejected
from facetrove.collector.ingest.writer import BatchResult, StorageError, Writer
from facetrove.collector.store.db import StoreError, is_disk_full
from facetrove.collector.store.forget import delete_unused_files
from facetrove.collector.store.integrity import ROW_ERRORS
from facetrove.collector.store.samples import sample_identities
from facetrove.wire import WireError, encode_sample

log = logging.getLogger("facetrove.ingest")

#: Database errors that come from the data of a message, not from the storage under it.
_DATA_ERRORS = ROW_ERRORS

Identity = tuple[str, str, str | None]


def commit_isolated(writer: Writer, outcomes: Sequence[Outcome], received_at: str) -> BatchResult:
    """Commit one batch so that no single message can block it.

    Raises:
        StorageError: a storage fault; nothing of the batch may be acknowledged.
    """
    try:
        screened, fresh = screen_ids(writer, outcomes)
    except StoreError as exc:  # the store cannot even be read: a storage fault
        raise StorageError(
            f"checking sample ids failed: {exc}", disk_full=is_disk_full(exc)
        ) from exc
    conflicts = sum(isinstance(o, Rejected) for o in screened) - sum(
        isinstance(o, Rejected) for o in outcomes
    )
    try:
        result = writer.commit(screened, received_at)
    except StorageError as exc:
        if not isinstance(exc.__cause__, _DATA_ERRORS):
            raise
        log.error("a batch of %d failed on its data (%s); storing one by one", len(screened), exc)
        result = _one_by_one(writer, screened, received_at)
    except Exception:
        log.exception("a batch of %d failed; storing its messages one by one", len(screened))
        result = _one_by_one(writer, screened, received_at)
    else:
        if result.stored == fresh and not conflicts:
            return result
        if result.stored != fresh:
            # Another ingest process (shared subscription) stored some of these ids between
            # the screen and the commit; with other bytes, the images written here are unused.
            log.warning("%d sample ids were stored meanwhile elsewhere", fresh - result.stored)
    # Images of the messages that were not stored (written by this attempt, or by an earlier
    # one that failed) go, unless some stored sample uses the same bytes.
    _remove_orphans(writer, _images(outcomes))
    return result


def screen_ids(writer: Writer, outcomes: Sequence[Outcome]) -> tuple[list[Outcome], int]:
    """Turn each sample that reuses a stored (or earlier) id with other content into a
    ``Rejected`` ``id_conflict``; everything else is returned unchanged, in order.

    Returns:
        The screened outcomes, and how many of them are sample ids new to the store.
    """
    accepted = [o for o in outcomes if isinstance(o, Accepted)]
    if not accepted:
        return list(outcomes), 0
    known: dict[str, Identity] = sample_identities(
        writer.db, (a.sample.header.sample_id for a in accepted)
    )
    out: list[Outcome] = []
    fresh = 0
    for o in outcomes:
        if isinstance(o, Accepted):
            sample_id, ident = o.sample.header.sample_id, _identity(o)
            seen = known.get(sample_id)
            if seen is None:
                known[sample_id] = ident
                fresh += 1
            elif seen != ident:
                o = _conflict(o, seen, ident)
        out.append(o)
    return out, fresh


def _identity(a: Accepted) -> Identity:
    h = a.sample.header
    return h.device_id, h.crop.sha256, h.frame.sha256 if h.frame else None


def _conflict(a: Accepted, seen: Identity, got: Identity) -> Rejected:
    h = a.sample.header
    if seen[0] != got[0]:
        what = f"is held by device {seen[0]!r}"
    else:
        what = (
            f"is stored with other image bytes (crop {seen[1][:12]}..., this copy {got[1][:12]}...)"
        )
    return Rejected(
        a.topic, h.device_id, "id_conflict", f"sample id {h.sample_id} {what}", _payload(a)
    )


def _payload(a: Accepted) -> bytes:
    """The sample framed again, for the quarantine's payload head (equal in meaning, not in
    bytes, to what arrived: ingest does not keep the raw payload of a valid sample)."""
    s = a.sample
    try:
        return encode_sample(s.header, s.crop, s.frame)
    except (ValueError, WireError):
        return s.header.model_dump_json().encode(errors="replace")


def _one_by_one(writer: Writer, outcomes: Sequence[Outcome], received_at: str) -> BatchResult:
    total = BatchResult()
    for o in outcomes:
        try:
            part = writer.commit([o], received_at)
        except StorageError as exc:
            if not isinstance(exc.__cause__, _DATA_ERRORS):
                raise
            part = _quarantine(writer, o, exc.__cause__, received_at)
        except Exception as exc:
            part = _quarantine(writer, o, exc, received_at)
        _add(total, part)
    return total


def _quarantine(writer: Writer, o: Outcome, exc: BaseException, received_at: str) -> BatchResult:
    log.error("storing one message on %r failed; quarantined", o.topic[:200], exc_info=exc)
    detail = f"storing failed: {type(exc).__name__}: {exc}"[:500]
    if isinstance(o, Accepted):
        rejected = Rejected(o.topic, o.sample.header.device_id, "internal", detail, _payload(o))
    elif isinstance(o, Rejected):
        rejected = Rejected(o.topic, None, "internal", f"{detail} (was {o.reason})", o.payload)
    else:
        rejected = Rejected(o.topic, o.device_id, "internal", detail, b"")
    try:
        return writer.commit([rejected], received_at)
    except StorageError as again:
        if not isinstance(again.__cause__, _DATA_ERRORS):
            raise
        fault: BaseException = again
    except Exception as again:
        fault = again
    # Not even the quarantine takes it: a collector bug. Acknowledged all the same, so that
    # one message cannot stop ingest; the log keeps what it was.
    log.critical("could not quarantine a message on %r: %s", o.topic[:200], fault, exc_info=fault)
    return BatchResult()


def _add(total: BatchResult, part: BatchResult) -> None:
    total.stored += part.stored
    total.redelivered += part.redelivered
    total.duplicate_crops += part.duplicate_crops
    total.device_updates += part.device_updates
    total.clock_skewed += part.clock_skewed
    for reason, n in part.rejected.items():
        total.rejected[reason] = total.rejected.get(reason, 0) + n


def _images(outcomes: Sequence[Outcome]) -> set[str]:
    shas: set[str] = set()
    for o in outcomes:
        if isinstance(o, Accepted):
            _, crop, frame = _identity(o)
            shas.add(crop)
            if frame:
                shas.add(frame)
    return shas


def _remove_orphans(writer: Writer, candidates: set[str]) -> None:
    """Remove the blobs among ``candidates`` that no stored sample uses (under the store's
    write lock, so another ingest process that found one present and skipped writing it writes
    it again before its rows commit: ``Writer.commit``'s image check)."""
    if not candidates:
        return
    try:
        removed = delete_unused_files(writer.db, writer.blobs, sorted(candidates))
        if removed:
            log.info("removed %d image(s) no stored sample uses", removed)
    except (StoreError, OSError) as exc:
        # The batch is committed; an image left over costs disk space, not data.
        log.warning("could not remove unused images: %s", exc)
