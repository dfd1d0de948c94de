"""read_image: formats, conversions, and every failure as an ImageReadError naming the file."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from l2vision.io.decode import check_image, read_image, resize_image
from l2vision.io.errors import ImageNotFoundError, ImageReadError
from l2vision.io.header import HeaderInfo, read_header
from tests.conftest import write_image


@pytest.fixture
def photo(rng):
    # Smooth content so lossy formats stay close to the original.
    y, x = np.mgrid[0:48, 0:64]
    image = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)
    return image


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".tif", ".webp", ".ppm"])
def test_formats_decode_to_uint8_bgr(tmp_path, photo, ext):
    path = write_image(tmp_path / f"a{ext}", photo)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    assert np.abs(image.astype(int) - photo).mean() < 3
    assert read_image(path, color="gray").shape == (48, 64)


def test_gray_file_is_replicated_to_three_channels(tmp_path, photo):
    gray = photo[:, :, 0]
    image = read_image(write_image(tmp_path / "g.png", gray))
    assert image.shape == (48, 64, 3)
    np.testing.assert_array_equal(image[:, :, 1], gray)


def test_alpha_is_dropped(tmp_path, photo):
    bgra = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.png", bgra)), photo)


def test_palette_png_is_expanded(tmp_path):
    pil = Image.new("P", (4, 2))
    pil.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red, 1 blue (RGB)
    pil.putpixel((1, 0), 1)
    path = tmp_path / "p.png"
    pil.save(path)
    image = read_image(path)
    assert tuple(image[0, 0]) == (0, 0, 255)  # red in BGR
    assert tuple(image[0, 1]) == (255, 0, 0)  # blue in BGR


def test_16_bit_is_scaled_to_8_bit(tmp_path):
    deep = np.full((4, 4), 40000, np.uint16)
    image = read_image(write_image(tmp_path / "d.png", deep))
    assert image.dtype == np.uint8 and image[0, 0, 0] == 40000 // 256


def test_exif_orientation_is_applied(tmp_path):
    pil = Image.new("RGB", (40, 20), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    path = tmp_path / "rotated.jpg"
    pil.save(path, exif=exif.tobytes())
    assert read_image(path).shape == (40, 20, 3)


def test_non_ascii_path(tmp_path, photo):
    path = write_image(tmp_path / "čaj_猫" / "żółw.png", photo)
    assert read_image(path).shape == (48, 64, 3)


def test_bytes_source(photo):
    ok, buf = cv2.imencode(".png", photo)
    np.testing.assert_array_equal(read_image(buf.tobytes()), photo)


# -- failures ------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageNotFoundError, match=r"nope\.jpg: file not found") as info:
        read_image(path)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.png: file is empty \(0 bytes\)"):
        read_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my notes, not a picture\n")
    with pytest.raises(ImageReadError, match=r"notes\.jpg: not an image"):
        read_image(path)


@pytest.mark.parametrize("ext,fraction", [(".jpg", 0.5), (".jpg", 0.95), (".png", 0.5),
                                          (".png", 0.98)])
def test_truncated(tmp_path, rng, ext, fraction):
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = write_image(tmp_path / f"full{ext}", noise).read_bytes()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(full[: int(len(full) * fraction)])
    with pytest.raises(ImageReadError, match=r"cut\.(jpg|png): (truncated|cannot be decoded)"):
        read_image(path)


def test_jpeg_header_gives_size_and_completeness(tmp_path, rng):
    jpeg = cv2.imencode(".jpg", rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))[1].tobytes()
    assert read_header(jpeg) == HeaderInfo("jpeg", 40, 24, True)
    assert read_header(jpeg[:-300]) == HeaderInfo("jpeg", 40, 24, False)
    # Bytes after the end-of-image marker (some cameras and editors add them)
    # do not make a complete file look truncated.
    path = tmp_path / "padded.jpg"
    path.write_bytes(jpeg + b"\x00" * 64)
    assert read_header(path.read_bytes()) == HeaderInfo("jpeg", 40, 24, True)
    assert read_image(path).shape == (24, 40, 3)


def test_pixel_limit_from_header_before_decoding(tmp_path):
    # A PNG whose header claims 50,000 x 50,000 pixels: refused without decoding.
    ok, buf = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    data = bytearray(buf.tobytes())
    data[16:24] = (50_000).to_bytes(4, "big") + (50_000).to_bytes(4, "big")
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"bomb\.png: image is 50000x50000 = 2,500,000,000"
                                             r" pixels, more than the limit of 100,000,000"):
        read_image(path)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp", ".tif"])
def test_pixel_limit_is_configurable(tmp_path, photo, ext):
    path = write_image(tmp_path / f"a{ext}", photo)
    with pytest.raises(ImageReadError, match="64x48 = 3,072 pixels, more than the limit of 1,000"):
        read_image(path, max_pixels=1000)
    assert read_image(path, max_pixels=None).shape == (48, 64, 3)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="is a directory"):
        read_image(tmp_path)


def test_bad_color_option():
    with pytest.raises(ValueError, match="The 'color' parameter must be one of"):
        read_image(b"x", color="rgb")


def test_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(ImageReadError("a.jpg", "truncated")))
    assert str(err) == "a.jpg: truncated" and err.source == "a.jpg"


# -- check_image / resize -------------------------------------------------------

def test_check_image_rejects_floats_with_the_fix():
    with pytest.raises(ImageReadError, match=r"X\[2\]: images must be uint8, got float64; "
                                             r"convert .*img_as_ubyte"):
        check_image(np.zeros((4, 4)), name="X[2]")


@pytest.mark.parametrize("shape", [(4,), (4, 4, 2), (4, 4, 3, 1), (0, 4)])
def test_check_image_rejects_bad_shapes(shape):
    with pytest.raises(ImageReadError, match="image: "):
        check_image(np.zeros(shape, np.uint8))


def test_check_image_squeezes_and_drops_alpha():
    assert check_image(np.zeros((3, 5, 1), np.uint8)).shape == (3, 5)
    assert check_image(np.zeros((3, 5, 4), np.uint8)).shape == (3, 5, 3)


def test_resize_uses_width_height_order():
    assert resize_image(np.zeros((10, 20, 3), np.uint8), (7, 3)).shape == (3, 7, 3)


def test_pil_can_read_what_we_decode(tmp_path, photo):
    # Sanity check of the fixture encoder against an independent decoder.
    path = write_image(tmp_path / "x.png", photo)
    rgb = np.asarray(Image.open(io.BytesIO(path.read_bytes())))
    np.testing.assert_array_equal(rgb[:, :, ::-1], read_image(path))


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an APP1 Exif segment whose only tag is the orientation."""
    import struct

    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x0112, 3, 1, orientation) + struct.pack("<I", 0))
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def test_large_jpegs_decode_at_the_scale_needed_with_exif_orientation():
    from l2vision.io.decode import read_image

    image = np.zeros((800, 1200, 3), np.uint8)
    image[:200, :600] = (0, 0, 255)  # a red block in the top-left corner
    data = cv2.imencode(".jpg", image)[1].tobytes()
    assert read_image(data).shape == (800, 1200, 3)
    assert read_image(data, min_size=(224, 224)).shape == (400, 600, 3)  # 1/2: 200 < 224
    assert read_image(data, min_size=(180, 180)).shape == (200, 300, 3)  # 1/4
    assert read_image(data, min_size=(90, 90)).shape == (100, 150, 3)  # 1/8
    assert read_image(data, min_size=(500, 300)).shape == (800, 1200, 3)  # no cover at 1/2
    assert read_image(data, min_size=(180, 180), color="gray").shape == (200, 300)
    # Orientation 6 (rotate 90° clockwise) is applied at every scale: the block goes top right.
    rotated = _with_exif_orientation(data, 6)
    for min_size in (None, (180, 180), (90, 90)):
        out = read_image(rotated, min_size=min_size)
        h, w = out.shape[:2]
        assert w < h and out[: h // 8, -w // 8:, 2].mean() > 200 and out[-5:, :5].max() < 40
    png = cv2.imencode(".png", image)[1].tobytes()
    assert read_image(png, min_size=(90, 90)).shape == (800, 1200, 3)  # JPEG only
