"""Whatever a file system holds, reading an image never hangs and always names the reason."""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

from l2vision.config import config_context
from l2vision.io.decode import read_image
from l2vision.io.errors import ImageReadError
from tests.conftest import write_image


def _tiny_jpeg(path):
    return write_image(path, np.full((16, 16, 3), 120, np.uint8))


@pytest.fixture
def odd_folder(tmp_path):
    """A folder of images plus a FIFO, a socket, links (loop, dangling), a sub-folder named
    like an image, an unreadable file and an empty one; and the reason expected for each."""
    folder = tmp_path / "odd"
    folder.mkdir()
    _tiny_jpeg(folder / "a_good.jpg")
    os.mkfifo(folder / "b_pipe.jpg")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(folder / "c_socket.jpg"))
    os.symlink(folder / "d_loop.jpg", folder / "d_loop.jpg")
    os.symlink(folder / "nowhere.jpg", folder / "e_dangling.jpg")
    _tiny_jpeg(folder / "f_locked.jpg").chmod(0)
    (folder / "g_empty.jpg").write_bytes(b"")
    _tiny_jpeg(folder / "h_good.jpg")
    reasons = {"b_pipe.jpg": "is a named pipe (FIFO), not an image file",
               "c_socket.jpg": "socket",
               "d_loop.jpg": "is a symbolic link loop",
               "e_dangling.jpg": "is a dangling symbolic link",
               "g_empty.jpg": "file is empty"}
    if os.geteuid() != 0:  # root reads anything
        reasons["f_locked.jpg"] = "permission denied"
    yield folder, reasons
    server.close()


def test_each_special_file_is_refused_with_its_reason(odd_folder):
    folder, reasons = odd_folder
    for name, reason in reasons.items():
        with pytest.raises(ImageReadError, match=re.escape(reason)):
            read_image(folder / name)
    with pytest.raises(ImageReadError, match="is a directory, not an image file"):
        read_image(folder)
    with pytest.raises(ImageReadError, match="/dev/zero: is a character device"):
        read_image("/dev/zero")


def test_a_size_limit_stops_reading(tmp_path):
    path = _tiny_jpeg(tmp_path / "a.jpg")
    size = path.stat().st_size
    with pytest.raises(ImageReadError, match=f"file is {size:,} bytes, more than the limit of "
                                             f"{size - 1:,}"):
        read_image(path, max_bytes=size - 1)
    assert read_image(path, max_bytes=size).shape == (16, 16, 3)


def test_scoring_a_folder_of_special_files_completes(odd_folder, tmp_path):
    """The whole command, as a subprocess with a time limit: a FIFO used to hang it forever."""
    from l2vision.pipelines.build import make_pipeline
    from l2vision.pipelines.persist import save

    folder, reasons = odd_folder
    images = [np.full((16, 16, 3), v, np.uint8) for v in (0, 40, 200, 255)]
    model = save(make_pipeline("color", "ridge", lam=1.0).fit(images, ["d", "d", "b", "b"]),
                 tmp_path / "m.joblib")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\n/dev/zero\n/dev/stdin\n")
    done = subprocess.run([sys.executable, "-m", "l2vision", "score", str(model), str(folder),
                           "--manifest", str(manifest), "-q"], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.PIPE)
    assert done.returncode == 3, done.stderr
    rows = {os.path.basename(r["path"]): r for r in csv.DictReader(io.StringIO(done.stdout))}
    assert rows["a_good.jpg"]["label"] and rows["h_good.jpg"]["error"] == ""
    for name, reason in reasons.items():
        assert reason in rows[name]["error"], (name, rows[name])
    assert "character device" in rows["zero"]["error"]
    assert "not an image file" in rows["stdin"]["error"]  # a pipe here: never read


def test_a_tiff_bomb_is_refused_from_its_header():
    entries = [(256, 4, 1, 60000), (257, 4, 1, 60000), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, 60000),
               (279, 4, 1, 3_600_000_000)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
    data = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    assert len(data) < 200
    with pytest.raises(ImageReadError, match=r"60000x60000 = 3,600,000,000 pixels, more than"):
        read_image(data)
    big_endian = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 2) + \
        struct.pack(">HHII", 256, 4, 1, 50000) + struct.pack(">HHII", 257, 4, 1, 50000)
    with pytest.raises(ImageReadError, match="50000x50000"):
        read_image(big_endian)


def test_files_truncated_or_deleted_while_a_run_is_in_progress(tmp_path):
    """The paths are listed first; two files change before they are read: each is an
    error row naming what happened, and the run goes on."""
    from l2vision.pipelines.build import make_pipeline
    from l2vision.scoring import predict_paths

    images = [np.full((16, 16, 3), v, np.uint8) for v in (0, 40, 200, 255)]
    model = make_pipeline("color", "ridge", lam=1.0).fit(images, ["d", "d", "b", "b"])
    files = [write_image(tmp_path / f"{i}.jpg", np.full((40, 40, 3), 30 * i, np.uint8))
             for i in range(6)]

    def listed_then_changed():
        for i, path in enumerate(files):
            if i == 2:  # cut in half after the listing, before the read
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 2])
            if i == 4:
                path.unlink()
            yield path

    with config_context(batch_size=1):
        rows = list(predict_paths(model, listed_then_changed()))
    assert [r.error for r in rows] == ["", "", "truncated JPEG file (the data ends early)", "",
                                       "file not found", ""]
