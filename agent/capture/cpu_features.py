"""CPU features that MediaPipe's aarch64 build needs, read from the kernel before loading it.

MediaPipe's ``libmediapipe.so`` for aarch64 (1.0.0 to 1.2.3 at least) is compiled for ARMv8.2 with
the crypto extension. On a CPU without one of those features it does not raise: it prints
``FATAL ERROR: This binary was compiled with lse enabled, but this feature is not available on
this processor`` and kills the whole process with SIGILL, so ``detector.fallback_to_haar`` could
never apply. A Raspberry Pi 5 (Cortex-A76) has them all; a Pi 4 (Cortex-A72) and a Pi 3 (A53)
lack most. The detector checks the kernel's hardware capabilities (``getauxval(AT_HWCAP)``,
the same bits ``/proc/cpuinfo`` lists as ``Features``) first and falls back to Haar instead.
"""

from __future__ import annotations

import ctypes
import platform

AT_HWCAP = 16
"""``getauxval`` key of the hardware capability bits (linux/auxvec.h)."""

MEDIAPIPE_AARCH64_NEEDS: dict[str, int] = {
    "aes": 1 << 3,
    "sha2": 1 << 6,
    "crc32": 1 << 7,
    "atomics": 1 << 8,  # LSE, ARMv8.1
    "fphp": 1 << 9,  # fp16
    "asimdhp": 1 << 10,
    "asimdrdm": 1 << 12,  # rdm, ARMv8.1
    "lrcpc": 1 << 15,  # rcpc, ARMv8.3 (the A76 has it)
    "asimddp": 1 << 20,  # dotprod, ARMv8.2
}
"""``/proc/cpuinfo`` feature name -> HWCAP bit (arch/arm64/include/uapi/asm/hwcap.h), for the
features libmediapipe.so checks at start (its ``compiled with X enabled`` messages: aes, lse,
crc, dotprod, fp16, rdm, rcpc, sha2)."""


def hwcap() -> int | None:
    """This process's ``AT_HWCAP`` bits, or None where getauxval is not available."""
    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):
        return None
    getauxval.restype = ctypes.c_ulong
    getauxval.argtypes = [ctypes.c_ulong]
    return int(getauxval(AT_HWCAP))


def missing_for_mediapipe(machine: str | None = None, caps: int | None = None) -> list[str]:
    """The features MediaPipe's build for this architecture needs and this CPU lacks, by their
    ``/proc/cpuinfo`` names; empty on other architectures or when the bits cannot be read."""
    machine = machine if machine is not None else platform.machine()
    if machine not in ("aarch64", "arm64"):
        return []
    caps = caps if caps is not None else hwcap()
    if caps is None:
        return []
    return [name for name, bit in MEDIAPIPE_AARCH64_NEEDS.items() if not caps & bit]


def explain(missing: list[str]) -> str:
    """Why MediaPipe is not loaded on this CPU, in one line."""
    return (
        f"this CPU lacks {', '.join(missing)}, which MediaPipe's aarch64 build needs (ARMv8.2 "
        "with crypto, as in a Raspberry Pi 5; a Pi 4 or older lacks them): loading it "
        "would stop the agent with SIGILL"
    )
