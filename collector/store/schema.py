"""The collector's SQLite schema, created and changed by numbered migrations at start-up.

Rules: a migration is never edited once released; add a new one at the end of ``MIGRATIONS``.
Each migration runs in one transaction together with its ``_migrations`` row (SQLite's DDL is
transactional, and sqlite-utils' helpers join an open transaction): a migration that fails or a
process killed half-way leaves the store exactly as it was, and the next start tries it again.

Pre-labels are immutable facts of a sample; human decisions live in ``decisions`` and a sample's
``state``/``label`` columns are a cache derived from them (see collector.store.reviews) so the
queue can be indexed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

DEFAULT_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("samples").create(
        {
            "id": str,  # sample id made at the edge (ULID)
            "device_id": str,
            "captured_at": str,  # ISO 8601 UTC
            "received_at": str,
            "source": str,
            "frame_width": int,
            "frame_height": int,
            "box_xmin": int,
            "box_ymin": int,
            "box_xmax": int,
            "box_ymax": int,
            "detector": str,
            "detector_score": float,
            "track_id": int,
            "blur": float,
            "brightness": float,
            "face_px": int,
            "yaw": float,
            "prelabel_model_id": str,
            "prelabel_model_sha256": str,
            "prelabel_label": str,
            "prelabel_confidence": float,  # max class probability
            "prelabel_margin": float,  # top-1 minus top-2 probability
            "prelabel_probs": str,  # JSON object class -> probability
            "provided_label": str,
            "crop_sha256": str,
            "crop_width": int,
            "crop_height": int,
            "crop_bytes": int,
            "frame_sha256": str,
            "frame_image_width": int,
            "frame_image_height": int,
            "duplicate_of": str,  # earlier sample id with byte-identical crop
            "state": str,  # derived: pending | confirmed | rejected
            "label": str,  # derived: confirmed label
            "decided_at": str,  # derived: time of the decision that set state
        },
        pk="id",
        not_null={"device_id", "captured_at", "received_at", "crop_sha256", "state"},
        defaults={"state": "pending"},
    )
    db.table("samples").create_index(["state", "prelabel_confidence"])
    db.table("samples").create_index(["device_id", "captured_at"])
    db.table("samples").create_index(["crop_sha256"])
    db.table("samples").create_index(["device_id", "track_id"])
    db.table("samples").create_index(["label"])

    db.table("devices").create(
        {
            "id": str,
            "state": str,  # online | offline
            "first_seen": str,
            "last_seen": str,
            "software": str,
            "model_id": str,
            "detector": str,
            "source": str,
            "stats": str,  # JSON of the last Stats message
            "samples": int,  # samples stored from this device
            "config": str,  # JSON of the retained AgentConfig last published
            "config_revision": int,
        },
        pk="id",
        defaults={"samples": 0, "config_revision": 0},
    )

    db.table("quarantine").create(
        {
            "id": int,
            "received_at": str,
            "topic": str,
            "device_id": str,
            "reason": str,
            "detail": str,
            "payload_len": int,
            "payload_head": bytes,  # first bytes of the payload, for an operator to inspect
        },
        pk="id",
    )
    db.table("quarantine").create_index(["reason"])

    db.table("counters").create({"name": str, "value": int}, pk="name")

    db.table("users").create(
        {
            "id": int,
            "username": str,
            "password_hash": str,
            "role": str,  # admin | reviewer
            "created_at": str,
            "token_hash": str,  # sha256 of the API token, if one was issued
            "active": int,
        },
        pk="id",
        defaults={"active": 1},
    )
    db.table("users").create_index(["username"], unique=True)

    db.table("decisions").create(
        {
            "id": int,
            "sample_id": str,
            "user_id": int,
            "decided_at": str,
            "action": str,  # confirm | correct | reject | undo
            "label": str,
            "undoes": int,  # decision id an undo cancels
        },
        pk="id",
        foreign_keys=[("sample_id", "samples", "id"), ("user_id", "users", "id")],
    )
    db.table("decisions").create_index(["sample_id"])
    db.table("decisions").create_index(["user_id", "decided_at"])

    db.table("leases").create({"sample_id": str, "user_id": int, "expires_at": str}, pk="sample_id")
    db.table("leases").create_index(["user_id"])

    db.table("audit").create(
        {"id": int, "at": str, "user_id": int, "action": str, "target": str, "detail": str},
        pk="id",
    )

    db.table("classes").create(
        {"name": str, "position": int, "created_at": str, "renamed_from": str, "active": int},
        pk="name",
        defaults={"active": 1},
    )
    db.table("classes").insert_all(
        {"name": n, "position": i, "created_at": "1970-01-01T00:00:00+00:00", "active": 1}
        for i, n in enumerate(DEFAULT_CLASSES)
    )

    db.table("settings").create({"key": str, "value": str}, pk="key")

    db.table("versions").create(
        {
            "id": str,  # slug, e.g. v3-emotions
            "created_at": str,
            "created_by": int,
            "recipe": str,  # YAML text as given
            "recipe_sha256": str,
            "snapshot_sha256": str,  # hash of the sorted (sample id, label) list
            "samples": int,
            "card": str,  # JSON card
            "path": str,  # folder under data_dir/versions
            "status": str,  # building | ready | failed
            "error": str,
        },
        pk="id",
    )
    db.table("version_samples").create(
        {"version_id": str, "sample_id": str, "split": str, "label": str},
        pk=("version_id", "sample_id"),
        foreign_keys=[("version_id", "versions", "id"), ("sample_id", "samples", "id")],
    )

    db.table("models").create(
        {
            "id": str,
            "sha256": str,
            "created_at": str,
            "classes": str,
            "path": str,
            "notes": str,
        },
        pk="id",
    )


def _m002_review_indexes(db: sqlite_utils.Database) -> None:
    """Covering indexes for the review queue's class counts and the dashboard's aggregates."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_samples_state_label_prelabel "
        "ON samples (state, label, prelabel_label)"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_samples_state_prelabel_conf "
        "ON samples (state, prelabel_label, prelabel_confidence)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_samples_device_state ON samples (device_id, state)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_samples_day ON samples (substr(captured_at, 1, 10))")
    db.execute("CREATE INDEX IF NOT EXISTS idx_samples_face_px ON samples (face_px)")


def _m003_selection_tag_import(db: sqlite_utils.Database) -> None:
    """Why a sample was kept, where it came from, and the identity of an imported image.

    ``selection`` is the reason a sample was kept (``import`` for imported ones; agents may send
    one in the header), ``tag`` the source an import recorded (dataset name, licence note), and
    ``import_key`` the sha256 of the imported file (plus the box, for an annotated frame): unique,
    so importing the same thing twice adds nothing.
    """
    for column in ("selection", "tag", "import_key"):
        db.execute(f"ALTER TABLE samples ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS idx_samples_selection ON samples (selection)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_samples_tag ON samples (tag)")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_samples_import_key ON samples (import_key)")


def _m004_device_logins(db: sqlite_utils.Database) -> None:
    """One MQTT login per device: the username is the device id; only a hash is kept."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS device_logins ("
        " device_id TEXT PRIMARY KEY,"
        " password_hash TEXT NOT NULL,"
        " created_at TEXT NOT NULL,"
        " revoked_at TEXT)"
    )


def _m005_counted_indexes(db: sqlite_utils.Database) -> None:
    """Partial indexes for the rule ``samples.COUNTED`` (byte-identical copies held back), so
    the queue walk and the class counts stay index-only."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_samples_counted_state_label "
        "ON samples (state, label, prelabel_label) WHERE duplicate_of IS NULL"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_samples_counted_state_conf "
        "ON samples (state, prelabel_confidence) WHERE duplicate_of IS NULL"
    )


def _m006_clock_skew(db: sqlite_utils.Database) -> None:
    """``clock_skew_s``: a sample whose device clock looked wrong at ingest (stored, flagged);
    an index on ``frame_sha256`` for ingest's check that no sample uses an image it removes."""
    db.execute("ALTER TABLE samples ADD COLUMN clock_skew_s REAL")
    db.execute("CREATE INDEX IF NOT EXISTS idx_samples_frame_sha256 ON samples (frame_sha256)")


def _m007_models(db: sqlite_utils.Database) -> None:
    """The model registry: trained pre-label models, their status, and which device runs what.

    ``model_assignments`` holds the model each device should run (``device_id`` ``*`` = every
    device without its own row); ``model_events`` is the rollout history (rollback targets).
    """
    # 001 created ``models`` (id, sha256, created_at, classes, path, notes) and nothing used it.
    for column in (
        "size INTEGER NOT NULL DEFAULT 0",
        "parent TEXT",
        "version_id TEXT",
        "metrics TEXT NOT NULL DEFAULT '{}'",  # JSON, from the model card
        "status TEXT NOT NULL DEFAULT 'candidate'"
        " CHECK (status IN ('candidate','canary','deployed','retired'))",
        "registered_at TEXT",
        "status_at TEXT",
    ):
        db.execute(f"ALTER TABLE models ADD COLUMN {column}")
    # Why a device refused the model it was sent (from its status); NULL = none.
    db.execute("ALTER TABLE devices ADD COLUMN model_error TEXT")
    db.execute(
        "CREATE TABLE IF NOT EXISTS model_assignments ("
        " device_id TEXT PRIMARY KEY,"
        " model_id TEXT NOT NULL REFERENCES models(id),"
        " assigned_at TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS model_events ("
        " id INTEGER PRIMARY KEY,"
        " at TEXT NOT NULL,"
        " model_id TEXT NOT NULL,"
        " action TEXT NOT NULL,"  # rollout | rollback
        " devices TEXT NOT NULL)"  # JSON list, ["*"] = all
    )


def _m008_web_sessions(db: sqlite_utils.Database) -> None:
    """Server-side web sessions (a logout or a password change ends them) and failed logins
    (throttling per account and per address)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS web_sessions ("
        " id TEXT PRIMARY KEY,"
        " user_id INTEGER NOT NULL,"
        " created_at TEXT NOT NULL,"
        " address TEXT NOT NULL DEFAULT '')"
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_web_sessions_user ON web_sessions (user_id)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS login_failures ("
        " at TEXT NOT NULL,"
        " username TEXT NOT NULL,"
        " address TEXT NOT NULL)"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_login_failures_user ON login_failures (username, at)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_login_failures_addr ON login_failures (address, at)")


def _m009_train_jobs(db: sqlite_utils.Database) -> None:
    """Trainings started from the web app, kept across restarts (store/train_jobs.py)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS train_jobs (id TEXT PRIMARY KEY, version_id TEXT NOT NULL,"
        " name TEXT NOT NULL, epochs INTEGER NOT NULL, status TEXT NOT NULL,"
        " epoch INTEGER NOT NULL DEFAULT 0, loss REAL, valid_acc TEXT NOT NULL DEFAULT '-',"
        " pid INTEGER, returncode INTEGER, error TEXT, log_tail TEXT NOT NULL DEFAULT '[]',"
        " created_at TEXT NOT NULL, finished_at TEXT)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_train_jobs_status ON train_jobs (status)")


def _m010_subject(db: sqlite_utils.Database) -> None:
    """``subject``: the person an imported face shows (``collector import --subject-from``), so
    a version split with ``group_by: subject`` keeps every face of one person in one split;
    NULL when unknown (agents' samples, imports without a subject rule)."""
    db.execute("ALTER TABLE samples ADD COLUMN subject TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS idx_samples_subject ON samples (subject)")


#: Ordered migrations; the name is recorded in ``_migrations`` once applied.
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_review_indexes", _m002_review_indexes),
    ("003_selection_tag_import", _m003_selection_tag_import),
    ("004_device_logins", _m004_device_logins),
    ("005_counted_indexes", _m005_counted_indexes),
    ("006_clock_skew", _m006_clock_skew),
    ("007_models", _m007_models),
    ("008_web_sessions", _m008_web_sessions),
    ("009_train_jobs", _m009_train_jobs),
    ("010_subject", _m010_subject),
]


class MigrationError(sqlite3.DatabaseError):
    """A migration failed and was rolled back: the store is as it was before it."""


def _applied(db: sqlite_utils.Database) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction. Returns their names.

    ``BEGIN IMMEDIATE`` takes the write lock before the migration is checked again, so several
    processes opening a new store at once (ingest, the web app) apply each migration once.

    Raises:
        MigrationError: a migration failed; it was rolled back (the message names it).
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied = []
    for name, func in MIGRATIONS:
        if name in _applied(db):
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            if name in _applied(db):  # another process applied it while we waited for the lock
                db.execute("ROLLBACK")
                continue
            func(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", [name]
            )
            db.execute("COMMIT")
        except Exception as exc:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise MigrationError(
                f"migration {name} failed and was rolled back (the store is unchanged): {exc}"
            ) from exc
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
