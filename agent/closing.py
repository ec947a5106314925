"""Context-manager support shared by every stage that holds a device, file or model."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_C = TypeVar("_C", bound="Closing")


class Closing:
    """Mixin: ``with stage:`` calls ``close()``; subclasses override ``close()``."""

    def close(self) -> None:
        """Release the underlying device, file or model (nothing by default)."""

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
