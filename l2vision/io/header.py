"""Read an encoded image's size and completeness from its bytes, without decoding.

This is the decompression-bomb guard of :func:`l2vision.io.decode.read_image`: a
tiny PNG can declare 100,000 × 100,000 pixels, so the size is read from the
header before any pixel is decoded. The headers of every format OpenCV's
Python wheels decode are parsed: PNG, JPEG, GIF, BMP, WebP, TIFF (the first
image), Netpbm (PBM, PGM, PPM, PAM, PFM), Sun raster, Radiance HDR, AVIF and
JPEG 2000. A file whose size cannot be read this way is refused by
:func:`~l2vision.io.decode.read_image` unless the caller opts in (the
``allow_unchecked_formats`` setting); OpenCV's own limit then applies
(``OPENCV_IO_MAX_IMAGE_PIXELS``, set by :mod:`l2vision.io.decode` when it is
imported before cv2), and the size is checked again after decoding.
"""

from __future__ import annotations

import re
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

    ``complete`` is None when the format gives no cheap way to tell; ``note``
    says why the size is unknown when it is (a TIFF with two width tags...).
    """

    format: str
    width: int | None
    height: int | None
    complete: bool | None
    note: str = ""


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
    """Width and length of the first image (IFD) of a TIFF, from its tags 256 and 257.

    libtiff takes the first of repeated tags: so does this, and a file that
    repeats one (to show a small size here and a large one there) is flagged.
    """
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, offset)
        size = {}
        for k in range(min(count, 4096)):
            tag, kind = struct.unpack_from(order + "HH", data, offset + 2 + 12 * k)
            if tag in (256, 257):
                if tag in size:
                    return HeaderInfo("tiff", None, None, None,
                                      "the first image declares its width or height twice")
                code = order + ("H" if kind == 3 else "I")
                size[tag] = struct.unpack_from(code, data, offset + 2 + 12 * k + 8)[0]
    except struct.error:  # the header ends early: OpenCV will say the file is bad
        return HeaderInfo("tiff", None, None, None, "the header ends early")
    return HeaderInfo("tiff", size.get(256), size.get(257), None)


_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n)*(\S+)")


def _netpbm_info(data: bytes) -> HeaderInfo:
    """Width and height of a Netpbm file (P1-P6, PFM): the first two numbers after the magic."""
    numbers, position = [], 2
    for _ in range(2):
        match = _PNM_TOKEN.match(data, position)
        if match is None or not match.group(1).isdigit():
            return HeaderInfo("netpbm", None, None, None, "no size in the header")
        numbers.append(int(match.group(1)))
        position = match.end()
    return HeaderInfo("netpbm", numbers[0], numbers[1], None)


def _pam_info(data: bytes) -> HeaderInfo:
    """Width and height of a PAM file (P7): its WIDTH and HEIGHT lines."""
    header = data[:4096].split(b"ENDHDR", 1)[0]
    found = dict(re.findall(rb"^(WIDTH|HEIGHT)\s+(\d+)", header, re.M))
    if b"WIDTH" not in found or b"HEIGHT" not in found:
        return HeaderInfo("netpbm", None, None, None, "no size in the header")
    return HeaderInfo("netpbm", int(found[b"WIDTH"]), int(found[b"HEIGHT"]), None)


def _hdr_info(data: bytes) -> HeaderInfo:
    """Radiance HDR: the resolution line (``-Y 480 +X 640``) after the header."""
    match = re.search(rb"\n[-+]Y (\d+) [-+]X (\d+)\n", data[:8192])
    if match is None:
        return HeaderInfo("hdr", None, None, None, "no resolution line")
    return HeaderInfo("hdr", int(match.group(2)), int(match.group(1)), None)


def _avif_info(data: bytes) -> HeaderInfo:
    """AVIF/HEIF: the largest of the image spatial extents ('ispe' boxes) in the header."""
    sizes, start = [], 0
    head = data[:1 << 16]
    while (i := head.find(b"ispe", start)) != -1 and len(sizes) < 64:
        if i + 16 <= len(head):
            sizes.append(struct.unpack_from(">II", head, i + 8))
        start = i + 4
    if not sizes:
        return HeaderInfo("avif", None, None, None, "no image size box")
    width, height = max(sizes, key=lambda s: s[0] * s[1])
    return HeaderInfo("avif", width, height, None)


def _jpeg2000_info(data: bytes) -> HeaderInfo:
    """JPEG 2000: the 'ihdr' box of a JP2 file, or the SIZ marker of a codestream."""
    i = data.find(b"ihdr", 0, 1 << 16)
    if i != -1 and i + 12 <= len(data):
        height, width = struct.unpack_from(">II", data, i + 4)
        return HeaderInfo("jpeg2000", width, height, None)
    j = data.find(b"\xff\x51", 0, 1 << 16)
    if j != -1 and j + 14 <= len(data):
        width, height, x0, y0 = struct.unpack_from(">IIII", data, j + 6)
        return HeaderInfo("jpeg2000", width - x0, height - y0, None)
    return HeaderInfo("jpeg2000", None, None, None, "no size in the header")


def read_header(data: bytes) -> HeaderInfo | None:
    """Parse the header of an encoded image; None when the format is not one we parse.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> ok, buf = cv2.imencode(".png", np.zeros((3, 5), np.uint8))
    >>> read_header(buf.tobytes())
    HeaderInfo(format='png', width=5, height=3, complete=True, note='')
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
    if data[:2] in (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"PF", b"Pf"):
        return _netpbm_info(data)
    if data[:2] == b"P7":
        return _pam_info(data)
    if data.startswith(b"\x59\xa6\x6a\x95") and len(data) >= 12:  # Sun raster
        width, height = struct.unpack_from(">II", data, 4)
        return HeaderInfo("sunraster", width, height, None)
    if data.startswith((b"#?RADIANCE", b"#?RGBE")):
        return _hdr_info(data)
    if data[4:12] in (b"ftypavif", b"ftypavis", b"ftypheic", b"ftypmif1"):
        return _avif_info(data)
    if data.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")):
        return _jpeg2000_info(data)
    return None
