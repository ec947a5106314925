"""facetrove: grow face and emotion datasets from the field."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("facetrove")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
