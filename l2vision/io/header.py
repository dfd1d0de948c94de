"""Read an encoded image's size and completeness from its bytes, without decoding.

This is the decompression-bomb guard of :func:`l2vision.io.decode.read_image`: a
tiny PNG can declare 100,000 × 100,000 pixels, so the size is read from the
header before any pixel is decoded. Only the fixed headers of the common
formats are parsed (PNG, JPEG, GIF, BMP, WebP, and the first image of a TIFF);
for other formats OpenCV's own limit applies (``OPENCV_IO_MAX_IMAGE_PIXELS``,
set by :mod:`l2vision.io.decode` when it is imported before cv2), and
the size is checked again after decoding.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

_U16 = struct.Struct(">H")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


class HeaderInfo(NamedTuple):
    """What the header says: format name, size, and whether the file is complete.

    ``complete`` is None when the format gives no cheap way to tell.
    """

    format: str
    width: int | None
    height: int | None
    complete: bool | None


def _jpeg_info(data: bytes) -> HeaderInfo:
    """Walk the JPEG segments up to the frame header (the size).

    The file is complete if it ends with the end-of-image marker; otherwise the
    walk goes on to the first scan, and an end-of-image marker anywhere after
    it will do (trailing bytes after it are allowed; markers inside scans are
    byte-stuffed).
    """
    width = height = None
    i, n = 2, len(data)
    unpack = _U16.unpack_from
    while i + 4 <= n:
        if data[i] != 0xFF:
            return HeaderInfo("jpeg", width, height, False)
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in _JPEG_STANDALONE:
            i += 2
        elif marker == 0xDA:  # start of scan: entropy-coded data follows
            return HeaderInfo("jpeg", width, height, data.find(b"\xff\xd9", i) != -1)
        else:
            if marker in _JPEG_SOF and i + 9 <= n:
                height, width = unpack(data, i + 5)[0], unpack(data, i + 7)[0]
                if data.endswith(b"\xff\xd9"):
                    # The usual case, settled without scanning the rest: the size
                    # is known and the file ends with the end-of-image marker.
                    return HeaderInfo("jpeg", width, height, True)
            i += 2 + unpack(data, i + 2)[0]
    return HeaderInfo("jpeg", width, height, False)


def _webp_info(data: bytes) -> HeaderInfo:
    """Canvas size from the first chunk of a RIFF/WebP file."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        w = int.from_bytes(data[26:28], "little") & 0x3FFF
        h = int.from_bytes(data[28:30], "little") & 0x3FFF
        return HeaderInfo("webp", w, h, None)
    if chunk == b"VP8L" and len(data) >= 25:
        b = data[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return HeaderInfo("webp", w, h, None)
    if chunk == b"VP8X" and len(data) >= 30:
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return HeaderInfo("webp", w, h, None)
    return HeaderInfo("webp", None, None, None)


def _tiff_info(data: bytes) -> HeaderInfo:
    """Width and length of the first image (IFD) of a TIFF, from its tags 256 and 257."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, offset)
        size = {}
        for k in range(min(count, 4096)):
            tag, kind = struct.unpack_from(order + "HH", data, offset + 2 + 12 * k)
            if tag in (256, 257):
                code = order + ("H" if kind == 3 else "I")
                size[tag] = struct.unpack_from(code, data, offset + 2 + 12 * k + 8)[0]
    except struct.error:  # the header ends early: OpenCV will say the file is bad
        return HeaderInfo("tiff", None, None, None)
    return HeaderInfo("tiff", size.get(256), size.get(257), None)


def read_header(data: bytes) -> HeaderInfo | None:
    """Parse the header of an encoded image; None when the format is not one we parse.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> ok, buf = cv2.imencode(".png", np.zeros((3, 5), np.uint8))
    >>> read_header(buf.tobytes())
    HeaderInfo(format='png', width=5, height=3, complete=True)
    """
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24:
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return HeaderInfo("png", w, h, data.rfind(_PNG_END) != -1)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_info(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        return HeaderInfo("gif", w, h, None)
    if data.startswith(b"BM") and len(data) >= 26:
        w = int.from_bytes(data[18:22], "little", signed=True)
        h = int.from_bytes(data[22:26], "little", signed=True)
        return HeaderInfo("bmp", abs(w), abs(h), None)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_info(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_info(data)
    return None
