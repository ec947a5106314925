"""System libraries that MediaPipe's native code needs, and the Debian package of each.

MediaPipe's ``libmediapipe.so`` links ``libEGL.so.1`` and ``libGLESv2.so.2`` even when it runs on
the CPU; a minimal Debian or Raspberry Pi OS Lite lacks both. When MediaPipe fails to load, the
detector loads each library itself to find out which are missing (no parsing of the loader's
error text), so the message can name the packages to install.
"""

from __future__ import annotations

import ctypes

SYSTEM_LIBRARIES: dict[str, str] = {
    "libEGL.so.1": "libegl1",
    "libGLESv2.so.2": "libgles2",
}
"""Shared library (as ``readelf -d libmediapipe.so`` lists it) -> Debian package."""


def missing_libraries() -> dict[str, str]:
    """The libraries of :data:`SYSTEM_LIBRARIES` that cannot be loaded here, with their package."""
    missing = {}
    for soname, package in SYSTEM_LIBRARIES.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing[soname] = package
    return missing


def explain(missing: dict[str, str]) -> str:
    """``libEGL.so.1 is missing (Debian package libegl1): sudo apt-get install libegl1``."""
    names = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    packages = " ".join(missing.values())
    plural = "package" if len(missing) == 1 else "packages"
    return f"{names} {verb} missing (Debian {plural} {packages}): sudo apt-get install {packages}"
