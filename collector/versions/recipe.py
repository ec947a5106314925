"""A version recipe: which confirmed samples, how to split, preprocess and augment them.

Recipes are YAML, validated completely before any work starts; every problem is reported at once
with its key path (``augmentations.sharpen: unknown augmentation ...``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SPLITS = ("train", "valid", "test")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message lists every problem, one per line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitSpec(_Model):
    train: float = Field(default=0.7, ge=0, le=1, description="fraction of groups for training")
    valid: float = Field(default=0.2, ge=0, le=1, description="fraction of groups for validation")
    test: float = Field(default=0.1, ge=0, le=1, description="fraction of groups for testing")
    group_by: Literal["track", "device", "subject", "none"] = Field(
        default="track",
        description="keep all samples of one track (or one device, or one subject: the person "
        "an import recorded with --subject-from) in the same split",
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        total = self.train + self.valid + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"split ratios must sum to 1, got {self.train} + {self.valid} + {self.test}"
                f" = {total:g}"
            )
        return self

    def ratios(self) -> dict[str, float]:
        """Ratios by split name, in the fixed order train, valid, test."""
        return {"train": self.train, "valid": self.valid, "test": self.test}


class StaticCrop(_Model):
    x_min: float = Field(
        default=0.0, ge=0, lt=1, description="left edge, fraction of the frame width"
    )
    y_min: float = Field(
        default=0.0, ge=0, lt=1, description="top edge, fraction of the frame height"
    )
    x_max: float = Field(
        default=1.0, gt=0, le=1, description="right edge, fraction of the frame width"
    )
    y_max: float = Field(
        default=1.0, gt=0, le=1, description="bottom edge, fraction of the frame height"
    )

    @model_validator(mode="after")
    def _ordered(self) -> StaticCrop:
        if self.x_max <= self.x_min or self.y_max <= self.y_min:
            raise ValueError("static_crop needs x_min < x_max and y_min < y_max")
        return self


class ResizeSpec(_Model):
    width: int = Field(default=640, ge=8, le=4096, description="output width in pixels")
    height: int = Field(default=640, ge=8, le=4096, description="output height in pixels")
    mode: Literal["stretch", "fit", "fill"] = Field(
        default="stretch",
        description="stretch to size; fit inside with black padding; fill and centre-crop",
    )


class Preprocess(_Model):
    static_crop: StaticCrop | None = Field(
        default=None,
        description="keep only this region of each frame (frames only; crops are faces)",
    )
    resize: ResizeSpec | None = Field(default=None, description="resize every image (all splits)")
    grayscale: bool = Field(default=False, description="convert to grayscale (kept as 3 channels)")
    equalize: Literal["none", "clahe", "histogram"] = Field(
        default="none", description="contrast equalisation: CLAHE (adaptive) or global histogram"
    )

    def is_identity(self) -> bool:
        """True when preprocessing leaves every image unchanged."""
        return (
            self.static_crop is None
            and self.resize is None
            and not self.grayscale
            and self.equalize == "none"
        )


def _p(default: float = 0.5) -> Any:
    return Field(default=default, ge=0, le=1, description="probability of applying it to an image")


class Flip(_Model):
    horizontal: bool = Field(default=True, description="mirror left-right")
    vertical: bool = Field(default=False, description="mirror top-bottom")
    p: float = _p()


class Rotate90(_Model):
    p: float = _p()


class Rotation(_Model):
    degrees: float = Field(default=15, gt=0, le=180, description="rotate by up to +/- this angle")
    p: float = _p()


class Shear(_Model):
    degrees: float = Field(default=10, gt=0, le=45, description="shear by up to +/- this angle")
    p: float = _p()


class Crop(_Model):
    max_percent: float = Field(
        default=0.2,
        gt=0,
        le=0.5,
        description="crop up to this fraction from each side, then scale back",
    )
    p: float = _p()


class Grayscale(_Model):
    p: float = _p(0.15)


class Hue(_Model):
    degrees: float = Field(
        default=15, gt=0, le=180, description="shift hue by up to +/- this many degrees"
    )
    p: float = _p()


class Saturation(_Model):
    percent: float = Field(
        default=25, gt=0, le=100, description="change saturation by up to +/- percent"
    )
    p: float = _p()


class Brightness(_Model):
    percent: float = Field(
        default=25, gt=0, le=100, description="change brightness by up to +/- percent"
    )
    p: float = _p()


class Exposure(_Model):
    percent: float = Field(
        default=15, gt=0, lt=100, description="gamma change of up to +/- percent"
    )
    p: float = _p()


class Blur(_Model):
    max_kernel: int = Field(
        default=5, ge=3, le=31, description="largest box blur kernel (odd pixels)"
    )
    p: float = _p()

    @model_validator(mode="after")
    def _odd(self) -> Blur:
        if self.max_kernel % 2 == 0:
            raise ValueError(f"max_kernel must be odd, got {self.max_kernel}")
        return self


class MotionBlur(Blur):
    max_kernel: int = Field(
        default=7, ge=3, le=31, description="largest motion blur kernel (odd pixels)"
    )


class Noise(_Model):
    percent: float = Field(
        default=5, gt=0, le=50, description="Gaussian noise std up to percent of 255"
    )
    p: float = _p()


class Cutout(_Model):
    holes: int = Field(default=3, ge=1, le=20, description="up to this many black rectangles")
    size: float = Field(
        default=0.1, gt=0, le=0.5, description="rectangle side as a fraction of the image"
    )
    p: float = _p()


class Augmentations(_Model):
    """Train-split augmentations; applied in this fixed order whatever the YAML order."""

    flip: Flip | None = Field(default=None, description="horizontal and/or vertical mirror")
    rotate90: Rotate90 | None = Field(
        default=None, description="rotate by 0, 90, 180 or 270 degrees"
    )
    rotation: Rotation | None = Field(default=None, description="rotate by a small random angle")
    shear: Shear | None = Field(default=None, description="shear horizontally and vertically")
    crop: Crop | None = Field(default=None, description="random crop (zoom in), same output size")
    grayscale: Grayscale | None = Field(
        default=None, description="convert some images to grayscale"
    )
    hue: Hue | None = Field(default=None, description="shift hue")
    saturation: Saturation | None = Field(default=None, description="change saturation")
    brightness: Brightness | None = Field(default=None, description="change brightness")
    exposure: Exposure | None = Field(default=None, description="change exposure (gamma)")
    blur: Blur | None = Field(default=None, description="box blur")
    motion_blur: MotionBlur | None = Field(default=None, description="motion blur")
    noise: Noise | None = Field(default=None, description="Gaussian noise")
    cutout: Cutout | None = Field(default=None, description="black out small random rectangles")

    def enabled(self) -> list[str]:
        """Names of the augmentations the recipe turns on, in application order."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


AUGMENTATION_NAMES = tuple(Augmentations.model_fields)


#: a version name is also a folder name: no path separators, no "..", nothing to escape in HTML
VERSION_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class Recipe(_Model):
    name: str | None = Field(
        default=None,
        pattern=VERSION_NAME,
        description="version name (lower case, digits, . _ -); default v<N>",
    )
    classes: list[str] | None = Field(
        default=None,
        min_length=1,
        description="classes to include, in this order; default all active",
    )
    tags: list[str] | None = Field(
        default=None,
        min_length=1,
        description="only samples whose source tag (collector import --tag) is one of these; "
        "default all samples, tagged or not",
    )
    selection: list[str] | None = Field(
        default=None,
        min_length=1,
        description="only samples kept for one of these reasons (best_of_window, "
        "expression_change, uncertain, heartbeat, class_target, import, still); e.g. [heartbeat] "
        "for an unbiased slice to measure drift on; default all samples",
    )
    task: Literal["classification", "detection", "both"] = Field(
        default="both",
        description="classification = face crops; detection = frames with face boxes",
    )
    seed: int = Field(default=0, ge=0, description="seed for the split and the augmentations")
    split: SplitSpec = Field(default=SplitSpec(), description="split ratios and grouping")
    preprocess: Preprocess = Field(default=Preprocess(), description="all splits")
    augmentations: Augmentations = Field(default=Augmentations(), description="train split only")
    multiplier: int = Field(
        default=1, ge=1, le=10, description="augmented copies made of each training image (1 to 10)"
    )
    keep_original: bool = Field(
        default=True, description="also keep the un-augmented training image next to its copies"
    )
    jpeg_quality: int = Field(
        default=95, ge=50, le=100, description="JPEG quality of written images"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("classes lists a class twice")
        if self.multiplier > 1 and not self.augmentations.enabled():
            raise ValueError(f"multiplier {self.multiplier} needs at least one augmentation")
        return self

    def copies_per_train_sample(self) -> int:
        """How many training images each training sample gives."""
        if not self.augmentations.enabled():
            return 1
        return self.multiplier + (1 if self.keep_original else 0)

    def check_classes(self, known: Iterable[str]) -> list[str]:
        """The classes this recipe uses, checked against the store's; raises RecipeError."""
        known = list(known)
        if self.classes is None:
            return known
        unknown = [c for c in self.classes if c not in known]
        if unknown:
            raise RecipeError(
                f"classes: unknown class {', '.join(map(repr, unknown))}"
                f" (known: {', '.join(known)})"
            )
        return list(self.classes)


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            if parent == ("augmentations",):
                msg = f"unknown augmentation (known: {', '.join(AUGMENTATION_NAMES)})"
            else:
                msg = "unknown key"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {msg}" if path else msg)
    return "\n".join(lines)


def parse_recipe(text: str) -> Recipe:
    """Parse and validate recipe YAML text; raises RecipeError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError("recipe must be a YAML mapping (key: value lines)")
    # `flip:` with nothing after it means "flip with default parameters".
    augs = data.get("augmentations")
    if isinstance(augs, dict):
        data["augmentations"] = {k: ({} if v is None else v) for k, v in augs.items()}
    elif isinstance(augs, list):
        data["augmentations"] = {str(k): {} for k in augs}
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_format_errors(exc)) from None


def recipe_sha256(text: str) -> str:
    """Digest of the recipe text exactly as given."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_yaml(recipe: Recipe) -> str:
    """The recipe with every default filled in, as stable YAML (for the card and the folder)."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
