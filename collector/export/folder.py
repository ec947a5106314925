"""Class folders per split: ``<split>/<class>/<image>.jpg``.

torchvision's ``ImageFolder(out / "train")`` and Keras' ``image_dataset_from_directory(out /
"train")`` read it as is. Every class gets a folder in every split (empty ones too) so class
indices agree between splits.
"""

from __future__ import annotations

from pathlib import Path

from facetrove.collector.export.base import Task, VersionData, copy_image


class FolderExporter:
    name = "folder"
    task: Task = "classification"
    description = "class folders per split (torchvision ImageFolder, Keras)"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy each crop into ``<split>/<class>/``."""
        for split, images in version.by_split("classification"):
            folders = {label: out / split / label for label in version.classes}
            for path in folders.values():
                path.mkdir(parents=True, exist_ok=True)
            names = {label: str(path) for label, path in folders.items()}
            for image in images:
                copy_image(image, names[image.labels[0]])
