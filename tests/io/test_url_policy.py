"""Input lists, manifests and stdin cannot make l2vision read a device, block, or reach other hosts.

The URL attacks of the hardening review: ``local:///dev/zero`` (skipped the
regular-file check), ``local://`` at a FIFO (blocked), manifest rows fetching
loopback services (request forgery, port probing), unknown protocols and
chained URLs; and the TIFF whose last width tag hid a 900-megapixel image.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import cv2
import numpy as np
import pytest

from l2vision.config import config_context
from l2vision.io import _http
from l2vision.io.decode import read_image
from l2vision.io.errors import ImageReadError
from l2vision.io.remote import UrlPolicyError, check_url, read_bytes


def test_local_urls_take_the_local_checks(tmp_path):
    with pytest.raises(ImageReadError, match="is a character device"):
        read_bytes("local:///dev/zero")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match="named pipe"):
        read_bytes(f"local://{fifo}")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("url,message", [
    ("https://example.org/a.jpg", "remote URLs are not read unless allowed"),
    ("ftp://example.org/a.jpg", "the protocol 'ftp' is not read"),
    ("memory://a.jpg", "the protocol 'memory' is not read"),
    ("simplecache::s3://bucket/a.jpg", "chained URLs are not read"),
])
def test_urls_outside_the_policy_are_refused(url, message):
    with pytest.raises(UrlPolicyError, match=message):
        check_url(url)
    with pytest.raises(ImageReadError, match="refused"):
        read_bytes(url)


def test_a_loopback_service_is_never_contacted_even_with_urls_allowed():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    contacted = []

    def accept():
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                contacted.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        for host in ("127.0.0.1", "localhost", "[::1]"):
            with config_context(allow_urls=True), \
                    pytest.raises(ImageReadError, match="loopback, private, link-local"):
                read_bytes(f"http://{host}:{port}/admin")
    finally:
        thread.join()
        listener.close()
    assert contacted == []


def test_a_redirect_to_a_private_address_is_refused(monkeypatch):
    requested = []

    class Redirect:
        def __init__(self, address, host, port, timeout):
            requested.append((address, host))

        def request(self, *args, **kwargs):
            pass

        def getresponse(self):
            class Response:
                status, reason = 302, "Found"

                def getheader(self, name, default=""):
                    return "http://169.254.169.254/latest/meta-data/"
            return Response()

        def close(self):
            pass

    addresses = {"public.example": "93.184.216.34", "169.254.169.254": "169.254.169.254"}
    monkeypatch.setattr(_http.socket, "getaddrinfo",
                        lambda host, port, **kw: [(0, 0, 0, "", (addresses[host], port))])
    monkeypatch.setattr(_http, "_PinnedHTTP", Redirect)
    with pytest.raises(_http.UrlRefused, match="169.254.169.254"):
        _http.http_get("http://public.example/a.jpg", 1000, allow_private=False,
                       not_found=FileNotFoundError)
    assert requested == [("93.184.216.34", "public.example")]  # the checked address only


def _tiff(width_tags: list[int], height: int = 8) -> bytes:
    """A little-endian TIFF header whose first IFD has these width tags (then the height)."""
    entries = [(256, 4, 1, w) for w in width_tags] + [(257, 4, 1, height)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", *entry) for entry in entries) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def test_a_tiff_repeating_its_width_tag_is_refused_before_decoding():
    from l2vision.io.header import read_header

    assert read_header(_tiff([30_000])).width == 30_000
    data = _tiff([8, 30_000])  # the size shown, then the size libtiff would not use
    header = read_header(data)
    assert header.width is None and "twice" in header.note
    with pytest.raises(ImageReadError, match="does not give the image's size .the first image "
                                             "declares its width or height twice"):
        read_image(data)


def test_unknown_formats_are_refused_unless_allowed():
    with pytest.raises(ImageReadError, match="not a format l2vision reads"):
        read_image(b"GARBAGE" * 20)
    ok, ppm = cv2.imencode(".ppm", np.zeros((5, 7, 3), np.uint8))
    assert read_image(ppm.tobytes()).shape == (5, 7, 3)  # a known format
    with config_context(allow_unchecked_formats=True), \
            pytest.raises(ImageReadError, match="not an image"):
        read_image(b"GARBAGE" * 20)  # allowed: OpenCV tries, and says no
