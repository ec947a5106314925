"""MediaPipe's aarch64 build on a CPU without ARMv8.2: the agent must not load it (SIGILL).

The real case, an emulated Cortex-A72 (a Raspberry Pi 4) delivering through the Haar fallback,
runs in tests/deploy/test_raspberry_pi_guide.py; here the decision itself, from the HWCAP bits
the kernel gives a Pi 4 and a Pi 5 (their /proc/cpuinfo ``Features`` lines).
"""

from __future__ import annotations

import platform

import pytest

from facetrove.agent.capture import cpu_features
from facetrove.agent.capture.detector import BackendUnloadable, HaarDetector, make_detector
from facetrove.agent.config.capture import DetectorConfig

# In the bit order of arm64's uapi hwcap.h (HWCAP_FP is bit 0).
HWCAP_ORDER = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma "
    "lrcpc dcpop sha3 sm3 sm4 asimddp"
)
PI5 = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop "
    "asimddp"
)
PI4 = "fp asimd evtstrm crc32 cpuid"


def _caps(features: str) -> int:
    return sum(1 << HWCAP_ORDER.split().index(name) for name in features.split())


def test_the_bits_are_the_kernels() -> None:
    for name, bit in cpu_features.MEDIAPIPE_AARCH64_NEEDS.items():
        assert bit == 1 << HWCAP_ORDER.split().index(name), name


def test_a_pi5_runs_mediapipe_a_pi4_does_not() -> None:
    assert cpu_features.missing_for_mediapipe("aarch64", _caps(PI5)) == []
    lacking = cpu_features.missing_for_mediapipe("aarch64", _caps(PI4))
    assert lacking == ["aes", "sha2", "atomics", "fphp", "asimdhp", "asimdrdm", "lrcpc", "asimddp"]
    assert "SIGILL" in cpu_features.explain(lacking) and "Pi 5" in cpu_features.explain(lacking)


def test_other_architectures_are_not_checked() -> None:
    assert cpu_features.missing_for_mediapipe("x86_64", 0) == []


def test_this_machine_reads_its_bits() -> None:
    caps = cpu_features.hwcap()
    assert caps is not None and caps > 0
    if platform.machine() == "aarch64":
        assert caps & 1  # fp: every aarch64 Linux has it


def test_a_cpu_without_the_features_falls_back_to_haar(monkeypatch: pytest.MonkeyPatch) -> None:
    lacking = cpu_features.missing_for_mediapipe("aarch64", _caps(PI4))
    monkeypatch.setattr(cpu_features, "missing_for_mediapipe", lambda: lacking)
    assert isinstance(make_detector(DetectorConfig()), HaarDetector)
    with pytest.raises(BackendUnloadable, match="MediaPipe cannot run here: this CPU lacks aes"):
        make_detector(DetectorConfig(fallback_to_haar=False))
