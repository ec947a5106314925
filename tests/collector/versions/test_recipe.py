"""Recipes: every bad recipe is refused with a message naming the key, before any work starts."""

from __future__ import annotations

import pytest

from facetrove.collector.versions.recipe import RecipeError, parse_recipe

GOOD = """
name: emotions-v1
classes: [happy, sad]
seed: 7
split: {train: 0.8, valid: 0.1, test: 0.1, group_by: device}
preprocess:
  resize: {width: 224, height: 224, mode: fit}
  equalize: clahe
augmentations:
  flip:
  rotation: {degrees: 10}
  noise: {percent: 3, p: 0.3}
multiplier: 3
"""


def test_good_recipe_fills_defaults() -> None:
    r = parse_recipe(GOOD)
    assert r.classes == ["happy", "sad"]
    assert r.split.group_by == "device"
    assert r.augmentations.enabled() == ["flip", "rotation", "noise"]
    assert r.augmentations.flip is not None and r.augmentations.flip.horizontal
    assert r.copies_per_train_sample() == 4  # 3 augmented + the original
    assert r.check_classes(["angry", "happy", "sad"]) == ["happy", "sad"]


def test_empty_recipe_is_all_defaults() -> None:
    r = parse_recipe("")
    assert r.split.ratios() == {"train": 0.7, "valid": 0.2, "test": 0.1}
    assert r.copies_per_train_sample() == 1
    assert r.check_classes(["a", "b"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("split: {train: 0.5, valid: 0.2, test: 0.2}", "split: split ratios must sum to 1"),
        (
            "augmentations: {sharpen: {}}",
            "augmentations.sharpen: unknown augmentation (known: flip",
        ),
        ("augmentations: [flip, warp]", "augmentations.warp: unknown augmentation"),
        ("augmentations: {flip: {}}\nmultiplier: 11", "multiplier: Input should be less than"),
        ("augmentations: {flip: {}}\nmultiplier: 0", "multiplier: Input should be greater than"),
        ("multiplier: 3", "multiplier 3 needs at least one augmentation"),
        ("augmentations: {rotation: {degrees: 400}}", "augmentations.rotation.degrees"),
        ("augmentations: {blur: {max_kernel: 4}}", "max_kernel must be odd"),
        ("augmentations: {noise: {pct: 5}}", "augmentations.noise.pct: unknown key"),
        ("colour: red", "colour: unknown key"),
        ("preprocess: {resize: {mode: squash}}", "preprocess.resize.mode"),
        ("preprocess: {static_crop: {x_min: 0.6, x_max: 0.5}}", "x_min < x_max"),
        ("classes: [happy, happy]", "classes lists a class twice"),
        ("name: 'Bad Name!'", "name: String should match pattern"),
        ("- just\n- a list", "recipe must be a YAML mapping"),
        ("split: {train: [", "recipe is not valid YAML"),
    ],
)
def test_bad_recipes_are_refused_with_the_key(text: str, expected: str) -> None:
    """Tried: each malformed recipe. Kept: nothing is built; the message names the key."""
    with pytest.raises(RecipeError) as info:
        parse_recipe(text)
    assert expected in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RecipeError) as info:
        parse_recipe("multiplier: 20\naugmentations: {sharpen: {}}\nsplit: {train: 2}")
    lines = str(info.value).splitlines()
    assert len(lines) >= 3, lines


def test_unknown_class_is_named_with_the_known_ones() -> None:
    r = parse_recipe("classes: [happy, joyful]")
    with pytest.raises(RecipeError, match=r"unknown class 'joyful' \(known: happy, sad\)"):
        r.check_classes(["happy", "sad"])


def test_example_recipe_and_docs_cover_every_key() -> None:
    """deploy/recipe.example.yaml parses; docs/versions.md names every recipe key."""
    from pathlib import Path

    from pydantic import BaseModel

    from facetrove.collector.versions import recipe as r

    root = Path(__file__).resolve().parents[3]
    example = parse_recipe((root / "deploy" / "recipe.example.yaml").read_text())
    assert example.multiplier == 3 and example.augmentations.enabled()
    docs = (root / "docs" / "versions.md").read_text()
    models: list[type[BaseModel]] = [
        r.Recipe, r.SplitSpec, r.Preprocess, r.StaticCrop, r.ResizeSpec, r.Augmentations,
        r.Flip, r.Rotation, r.Shear, r.Crop, r.Hue, r.Saturation, r.Brightness, r.Exposure,
        r.Blur, r.MotionBlur, r.Noise, r.Cutout,
    ]  # fmt: skip
    missing = {f"{m.__name__}.{k}" for m in models for k in m.model_fields if f"`{k}`" not in docs}
    assert not missing, f"undocumented recipe keys: {sorted(missing)}"
