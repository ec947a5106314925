"""Message types for every topic (see docs/protocol.md).

Validation is strict about types (a string is not a number) and ignores unknown fields, so a
newer agent can add fields without breaking an older collector.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from facetrove.wire.errors import WireError
from facetrove.wire.ids import SAMPLE_ID_RE
from facetrove.wire.topics import DEVICE_ID_RE, Kind

SCHEMA_VERSION = 1
MAX_JSON_BYTES = 64 * 1024

#: Times on the wire lie in [MIN_TIME, MAX_TIME) once converted to UTC. Earlier is a clock that
#: was never set (boards without a real-time clock start in 1970) gone further wrong; later is no
#: real capture. Outside datetime's years 1-9999 after conversion a time cannot even be stored.
MIN_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(2100, 1, 1, tzinfo=timezone.utc)


class TimeOutOfRange(ValueError):
    """A time that does not convert to UTC or lies outside [MIN_TIME, MAX_TIME)."""


def _sane_time(value: datetime) -> datetime:
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not MIN_TIME <= utc < MAX_TIME:
        raise TimeOutOfRange(
            f"{value.isoformat()[:40]} in UTC is not between 1970-01-01 and 2100-01-01"
        )
    return value


#: An ISO 8601 time with a UTC offset, inside the sane range.
Time = Annotated[AwareDatetime, AfterValidator(_sane_time)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex sha256")]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_RE.pattern, description="device id")]
Label = Annotated[str, Field(min_length=1, max_length=64, description="class name")]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]

#: Why a sample was kept (``SampleHeader.selection``): the agent's sampling strategies, plus
#: ``import`` for samples the collector imported. A newer agent may send a name not listed here;
#: the collector stores any name that matches ``SELECTION_RE``.
SELECTIONS = (
    "best_of_window",  # the sharpest face of its track's window
    "expression_change",  # the track's expression changed (pre-label distribution moved)
    "uncertain",  # the pre-label is close to a decision boundary
    "heartbeat",  # a random sample kept regardless of the other rules (unbiased drift slice)
    "class_target",  # a class the collector asked for more of
    "import",  # brought in by `collector import` or the upload page
    "still",  # a photo from an image file or folder
)
SELECTION_RE = r"^[a-z][a-z0-9_]{0,31}$"


class _Msg(BaseModel):
    # allow_inf_nan=False: NaN slips past range checks and would come back as null on re-encode.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, allow_inf_nan=False)


class Box(_Msg):
    """A face box in pixel coordinates of the frame it was found in (xmax/ymax exclusive)."""

    xmin: int = Field(ge=0, description="left edge, pixels")
    ymin: int = Field(ge=0, description="top edge, pixels")
    xmax: int = Field(gt=0, description="right edge (exclusive), pixels")
    ymax: int = Field(gt=0, description="bottom edge (exclusive), pixels")

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.xmax <= self.xmin or self.ymax <= self.ymin:
            raise ValueError("box must have xmin < xmax and ymin < ymax")
        return self

    @property
    def width(self) -> int:
        return self.xmax - self.xmin

    @property
    def height(self) -> int:
        return self.ymax - self.ymin


class Quality(_Msg):
    """Image quality figures of the face region, measured on the agent."""

    blur: float = Field(ge=0.0, description="variance of the Laplacian; higher is sharper")
    brightness: float = Field(ge=0.0, le=255.0, description="mean grey level, 0-255")
    face_px: int = Field(ge=0, description="shorter side of the face box in frame pixels")
    yaw: float | None = Field(default=None, description="estimated yaw in degrees, if known")


class Prelabel(_Msg):
    """The emotion model's guess, an immutable fact of the sample."""

    model_id: str = Field(min_length=1, max_length=128)
    model_sha256: Sha256
    label: Label
    probs: dict[Label, Prob] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _label_in_probs(self) -> Prelabel:
        if self.label not in self.probs:
            raise ValueError("label must be one of the keys of probs")
        return self


class ImagePart(_Msg):
    """One JPEG section of a sample payload."""

    width: int = Field(ge=1, le=16384)
    height: int = Field(ge=1, le=16384)
    length: int = Field(ge=4, description="number of bytes of the JPEG in the payload")
    sha256: Sha256


class SampleHeader(_Msg):
    """The JSON header of a sample; the JPEG bytes follow it in the binary frame."""

    schema_version: int = Field(description="wire schema version, currently 1")
    sample_id: str = Field(pattern=SAMPLE_ID_RE.pattern, description="ULID made at the edge")
    device_id: DeviceId
    captured_at: Time = Field(description="capture time, ISO 8601 with a UTC offset")
    source: str = Field(max_length=512, description="camera:0, file:<name>, rtsp:<host>, ...")
    frame_width: int = Field(ge=1, le=16384)
    frame_height: int = Field(ge=1, le=16384)
    box: Box
    detector: str = Field(min_length=1, max_length=64)
    detector_score: float = Field(ge=0.0, le=1.0)
    track_id: int = Field(ge=0, le=2**53)
    quality: Quality
    prelabel: Prelabel | None = None
    provided_label: Label | None = Field(
        default=None, description="label given by the source, e.g. the class folder name"
    )
    selection: str | None = Field(
        default=None,
        pattern=SELECTION_RE,
        description="why the sample was kept, one of SELECTIONS (optional)",
    )
    crop: ImagePart
    frame: ImagePart | None = Field(
        default=None, description="optional downscaled full frame; box scales by width ratio"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SampleHeader:
        if self.box.xmax > self.frame_width or self.box.ymax > self.frame_height:
            raise ValueError(
                f"box {self.box.xmin},{self.box.ymin},{self.box.xmax},{self.box.ymax} lies "
                f"outside the {self.frame_width}x{self.frame_height} frame"
            )
        return self


class Status(_Msg):
    """Retained availability of a device; the last will sets ``state`` to offline."""

    device_id: DeviceId
    state: Literal["online", "offline"]
    at: Time | None = Field(default=None, description="time of the change, with offset")
    software: str | None = Field(default=None, max_length=64)
    model_id: str | None = Field(default=None, max_length=128)
    detector: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=512)
    model_error: str | None = Field(
        default=None,
        max_length=512,
        description="why the last announced model was refused, the old one kept ('' = none)",
    )
    model_files_deleted: int | None = Field(
        default=None, ge=0, description="model files the agent's retention deleted, all runs"
    )


class Stats(_Msg):
    """Periodic counters of a running agent."""

    device_id: DeviceId
    at: Time = Field(description="time of the reading, ISO 8601 with a UTC offset")
    uptime_s: float = Field(ge=0)
    fps: float = Field(ge=0)
    frames: int = Field(ge=0)
    faces: int = Field(ge=0)
    samples_accepted: int = Field(ge=0)
    samples_sent: int = Field(ge=0)
    outbox_depth: int = Field(ge=0)
    outbox_bytes: int = Field(ge=0)
    outbox_dropped: int = Field(ge=0)
    drops: dict[str, int] = Field(default_factory=dict, description="drops by reason")
    model_files_deleted: int = Field(default=0, ge=0, description="as in Status")
    model_id: str | None = None
    paused: bool = False
    config_revision: int | None = None


class SamplingOverrides(_Msg):
    """Sampling settings the collector may change at run time (unset fields keep local values)."""

    max_per_track: int | None = Field(default=None, ge=0)
    track_window_s: float | None = Field(default=None, gt=0)
    per_minute: int | None = Field(default=None, ge=0)
    per_hour: int | None = Field(default=None, ge=0)
    per_day: int | None = Field(default=None, ge=0)
    traffic_percent: float | None = Field(default=None, ge=0, le=100)
    prefer_uncertain: bool | None = None


class QualityOverrides(_Msg):
    """Quality-gate thresholds the collector may change at run time."""

    min_blur: float | None = Field(default=None, ge=0)
    min_brightness: float | None = Field(default=None, ge=0, le=255)
    max_brightness: float | None = Field(default=None, ge=0, le=255)
    min_face_px: int | None = Field(default=None, ge=0)
    max_abs_yaw: float | None = Field(default=None, ge=0, le=180)


class AgentConfig(_Msg):
    """Retained run-time configuration from the collector to one agent."""

    revision: int = Field(ge=0, description="increases with every change")
    paused: bool = False
    sampling: SamplingOverrides = Field(default_factory=SamplingOverrides)
    quality: QualityOverrides = Field(default_factory=QualityOverrides)
    class_targets: dict[Label, float] = Field(
        default_factory=dict,
        description="relative want per class (1.0 = as is, >1 send more, <1 send fewer)",
    )


class ModelAnnouncement(_Msg):
    """Retained: which pre-label model an agent should run, and where to fetch it."""

    model_id: str = Field(min_length=1, max_length=128)
    sha256: Sha256
    url: str = Field(max_length=2048, description="HTTP(S) URL of the ONNX file")
    size: int = Field(ge=1, le=512 * 1024 * 1024)
    classes: list[Label] = Field(min_length=2, max_length=64)


SampleId = Annotated[str, Field(pattern=SAMPLE_ID_RE.pattern, description="sample id")]
ReasonCode = Annotated[str, Field(min_length=1, max_length=64, description="reason code")]
#: Most ids one receipt carries (stored + quarantined): keeps it under ``MAX_JSON_BYTES``.
MAX_RECEIPT_IDS = 500


class Receipt(_Msg):
    """Collector -> agent: samples the collector holds durably, or refused for good.

    An agent deletes a sample from its outbox when its id is in ``stored`` or ``quarantined``,
    and only then. Sending the same sample again cannot change either answer.
    """

    device_id: DeviceId
    at: AwareDatetime = Field(description="when the collector committed them, with offset")
    stored: list[SampleId] = Field(
        default_factory=list,
        max_length=MAX_RECEIPT_IDS,
        description="ids durably stored (now, or already before: a re-send)",
    )
    quarantined: dict[SampleId, ReasonCode] = Field(
        default_factory=dict,
        max_length=MAX_RECEIPT_IDS,
        description="ids refused for good, with the reason (the collector keeps the refusal)",
    )
    subscribed: bool = Field(
        default=False,
        description=(
            "sent when ingest (re)subscribes: what the broker acknowledged before may never have"
            " reached the collector (a restarted embedded broker keeps no queue), so send again"
            " now every sample still waiting for its receipt"
        ),
    )

    @model_validator(mode="after")
    def _bounded(self) -> Receipt:
        if len(self.stored) + len(self.quarantined) > MAX_RECEIPT_IDS:
            raise ValueError(f"a receipt carries at most {MAX_RECEIPT_IDS} ids")
        return self


_JSON_TYPES: dict[Kind, type[_Msg]] = {
    Kind.STATUS: Status,
    Kind.STATS: Stats,
    Kind.CONFIG: AgentConfig,
    Kind.MODEL: ModelAnnouncement,
    Kind.RECEIPT: Receipt,
}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def decode_json_message(kind: Kind, payload: bytes, *, device_id: str | None = None) -> _Msg:
    """Decode the JSON payload of a status, stats, config, model or receipt message.

    If ``device_id`` is given (the one from the topic), a status, stats or receipt payload must
    carry the same device id.

    Raises:
        WireError: ``too_large``, ``json``, ``schema``, ``topic`` (not a JSON kind) or
            ``device_mismatch``.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise WireError("json", f"payload must be bytes, not {type(payload).__name__}")
    payload = bytes(payload)
    if len(payload) > MAX_JSON_BYTES:
        raise WireError("too_large", f"{len(payload)} bytes > limit of {MAX_JSON_BYTES}")
    model = _JSON_TYPES.get(Kind(kind))
    if model is None:
        raise WireError("topic", f"{kind.value} is not a JSON message kind")
    load_json(payload, "payload")
    msg = validate_json(model, payload)
    sender = getattr(msg, "device_id", None)
    if device_id is not None and sender is not None and sender != device_id:
        raise WireError(
            "device_mismatch",
            f"topic device {device_id[:80]!r} differs from payload device {sender!r}",
        )
    return msg


def load_json(raw: bytes, what: str) -> object:
    """Parse ``raw`` as UTF-8 JSON with the standard library.

    Parsing first with the stdlib makes a JSON problem (bad UTF-8, a BOM, nesting deep enough to
    exhaust the recursion limit) a ``json`` error rather than a crash or a ``schema`` error.

    Raises:
        WireError: ``json``.
    """
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError("json", f"{what} is not UTF-8 JSON: {str(exc)[:200]}") from None


_M = TypeVar("_M", bound=BaseModel)


def validate_json(model: type[_M], raw: bytes) -> _M:
    """Validate JSON bytes against ``model``.

    Raises:
        WireError: ``json`` if pydantic's parser refuses what the stdlib accepted (lone
            surrogates), ``date`` if only times are out of range, else ``schema`` naming
            each failing field.
    """
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        if any(e["type"] == "json_invalid" for e in errors):
            reason = "json"
        elif all(isinstance(e.get("ctx", {}).get("error"), TimeOutOfRange) for e in errors):
            reason = "date"
        else:
            reason = "schema"
        raise WireError(reason, _summarise(exc)) from None


def _summarise(exc: ValidationError) -> str:
    """One line naming each failing field path."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        # our own cross-field checks already name the fields they compare
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    # Field paths can hold attacker-chosen dict keys: keep the message bounded.
    return "; ".join(parts)[:500]
