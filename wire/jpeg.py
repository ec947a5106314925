"""Read a JPEG's dimensions from its header without decoding it (stdlib only)."""

from __future__ import annotations

# Start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Return ``(width, height)`` from the JPEG header of ``data``.

    Raises:
        ValueError: if ``data`` is not a JPEG or its header is truncated or malformed.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise ValueError("not a JPEG (no SOI marker)")
    if data[-2:] != b"\xff\xd9":
        raise ValueError("JPEG is truncated (no EOI marker)")
    i = 2
    while i < n:
        if data[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i}")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            break
        if i + 2 > n:
            break
        seg_len = (data[i] << 8) | data[i + 1]
        if seg_len < 2 or i + seg_len > n:
            raise ValueError(f"JPEG segment length {seg_len} at byte {i} runs past the end")
        if marker in _SOF:
            if seg_len < 7:
                raise ValueError("JPEG frame header too short")
            height = (data[i + 3] << 8) | data[i + 4]
            width = (data[i + 5] << 8) | data[i + 6]
            if width == 0 or height == 0:
                raise ValueError("JPEG frame header declares a zero dimension")
            return width, height
        i += seg_len
    raise ValueError("JPEG has no frame header")
