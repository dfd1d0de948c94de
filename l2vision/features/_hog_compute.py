"""Histograms of oriented gradients in NumPy, equal to OpenCV's ``HOGDescriptor.compute``."""

from __future__ import annotations

import functools

import cv2
import numpy as np

__all__ = ["hog_descriptors", "hog_gradients", "hog_tables"]

_F = np.float32
_COLORS = ("gray", "max", "per-channel")
_CHUNK_PIXELS = 1 << 15  # images per chunk: this many pixels, so its scratch stays in cache
_BLAS_SERIAL = 2**19 - 1  # multiply-adds in a matrix product that OpenBLAS keeps on one thread
_SIMD_WIDTH = 4  # OpenCV picks the color channel 4 lanes at a time, the last W % 4 in scalar


def hog_descriptors(images, *, cell_size=(4, 4), block_size=(2, 2), block_stride=(1, 1),
                    orientations=9, signed=False, gamma_correction=False, color="gray"):
    """HOG descriptors of a batch of same-size images, as OpenCV's ``HOGDescriptor`` computes them.

    Stages, all vectorized over the batch:

    1. Intensities through a lookup table: ``sqrt(i)`` with ``gamma_correction``, else ``i``.
    2. Gradients by ``[-1, 0, 1]`` differences, mirrored at the border (``BORDER_REFLECT_101``:
       0 across it). ``color="max"`` keeps, per pixel, the channel of largest squared magnitude.
    3. Magnitude and angle by ``cv2.cartToPolar``; the angle, in bins, minus
       0.5 is split linearly between its two nearest bins (bin ``k`` centred on
       ``(k + 0.5) * 180 / orientations`` degrees, 360 when ``signed``, wrapping around).
    4. Each block sums its pixels' votes into its cells, weighted by a Gaussian window
       (sigma = (block width + block height) / 8 px, centred at half the block size in
       pixel indices) times bilinear weights between neighbouring cell centres.
    5. L2-Hys: ``v / (||v|| + 0.1 * len(v))``, clipped at 0.2, then ``v / (||v|| + 1e-3)``.

    Parameters
    ----------
    images : (N, H, W) or (N, H, W, 3) uint8 ndarray
        Gray images, or BGR ones for ``color="max"`` or ``"per-channel"``.
    cell_size : (int, int), default=(4, 4)
        Cell ``(width, height)`` in pixels.
    block_size : (int, int), default=(2, 2)
        Block ``(width, height)`` in cells.
    block_stride : (int, int), default=(1, 1)
        Step between blocks in cells.
    orientations : int, default=9
        Orientation bins over 0-180 degrees (0-360 with ``signed``).
    signed : bool, default=False
        Tell a gradient from its opposite.
    gamma_correction : bool, default=False
        Square root of the intensities first.
    color : {"gray", "max", "per-channel"}, default="gray"
        How to use the three channels of BGR images: the strongest gradient
        per pixel, or one descriptor per channel (B, G, R) concatenated.

    Returns
    -------
    descriptors : (N, n_features) float32 ndarray
        ``n_features = channels * blocks_x * blocks_y * cells_x * cells_y *
        orientations``, ``blocks_x = (W - block width px) / stride px + 1``,
        ``channels`` 3 for ``"per-channel"``, else 1; in OpenCV's order: blocks
        column by column (x outer), then their cells column by column, then bins.

    Raises
    ------
    ValueError
        If the images are not a uint8 batch shaped for ``color``, or blocks don't tile them.

    Notes
    -----
    The descriptor of Dalal & Triggs [1]_ as OpenCV implements it in
    ``HOGDescriptor::computeGradient`` and ``HOGCache`` (``modules/objdetect/src/hog.cpp``),
    reproduced from NumPy and OpenCV primitives for OpenCV 5, which has no
    ``HOGDescriptor``. The arithmetic is float32 in OpenCV's order; sums are
    taken in another order, the Gaussian is applied per axis and L2-Hys clips
    ``v`` at ``0.2 / s`` before scaling by ``s``, so results differ from
    OpenCV 4's by float rounding (about 1e-7). Where the squared magnitudes of
    two channels tie exactly, the lower channel index wins (OpenCV's SIMD
    loop), except in the last ``W % 4`` columns (its scalar loop).

    Votes are one-hot rows of ``orientations`` values per pixel, so stage 4
    is two matrix products per image. Images go through in chunks of about
    32k pixels, whose scratch arrays are kept for the next call of the same
    geometry.

    References
    ----------
    .. [1] N. Dalal and B. Triggs, "Histograms of oriented gradients for human
       detection", CVPR 2005. :doi:`10.1109/CVPR.2005.177`

    Examples
    --------
    One block of four cells on a vertical ramp: gradients at 90 degrees, the
    centre of bin 4; L2-Hys clips the 4 equal values to 0.2, then divides by 0.4 + 1e-3.

    >>> import numpy as np
    >>> ramp = np.repeat(np.arange(0, 80, 10, dtype=np.uint8)[:, None], 8, axis=1)
    >>> d = hog_descriptors(ramp[None], cell_size=(4, 4), block_size=(2, 2))
    >>> d.shape, d.dtype
    ((1, 36), dtype('float32'))
    >>> d.reshape(4, 9)[:, 4].round(5).tolist()
    [0.49875, 0.49875, 0.49875, 0.49875]
    """
    if color not in _COLORS:
        raise ValueError(f"color must be one of {_COLORS}; got {color!r}")
    images = np.asarray(images)
    channels = 1 if color == "gray" else 3
    if images.dtype != np.uint8 or images.ndim != 3 + (channels > 1) or (
            channels > 1 and images.shape[-1] != 3):
        want = "(N, H, W)" if channels == 1 else "(N, H, W, 3)"
        raise ValueError(f"images must be a uint8 array of shape {want} for color={color!r}; "
                         f"got {images.dtype} {images.shape}")
    n, height, width = images.shape[:3]
    tables = _tables(height, width, tuple(cell_size), tuple(block_size), tuple(block_stride),
                     int(orientations), bool(signed))
    if color == "per-channel":
        planes = images.transpose(0, 3, 1, 2).reshape(n * 3, height, width)
        return hog_descriptors(planes, cell_size=cell_size, block_size=block_size,
                               block_stride=block_stride, orientations=orientations,
                               signed=signed, gamma_correction=gamma_correction,
                               color="gray").reshape(n, 3 * tables.n_features)
    lut = np.sqrt(np.arange(256, dtype=_F)) if gamma_correction else None
    out = np.empty((n, tables.n_features), _F)
    step = max(1, _CHUNK_PIXELS // (height * width))
    if n == 0:
        return out
    pool = tables.workspaces.setdefault(channels, [])
    try:
        work = pool.pop()  # atomic: concurrent calls never share a workspace
    except IndexError:
        work = _Workspace(step, height, width, channels, tables)
    for start in range(0, n, step):
        chunk = images[start:start + step]
        dx, dy = _gradients(chunk, lut, work)
        _describe(dx, dy, tables, work, out[start:start + len(chunk)])
    pool.append(work)
    return out


def hog_tables(height, width, cell_size, block_size, block_stride, orientations, signed):
    """The constants of one geometry (axis weights ``wy_t``, ``wx_t``, ``blocks``, ``cells``,
    bin tables), built once; :func:`hog_descriptors` validates the arguments first.

    Examples
    --------
    >>> hog_tables(32, 32, (4, 4), (2, 2), (1, 1), 9, False).blocks
    (7, 7)
    """
    return _tables(height, width, tuple(cell_size), tuple(block_size), tuple(block_stride),
                   int(orientations), bool(signed))


def hog_gradients(image, tables, *, gamma_correction=False, color="gray"):
    """The (x, y) derivatives (H, W) float32 of one image, as :func:`hog_descriptors` bins them.

    Examples
    --------
    >>> ramp = np.repeat(np.arange(0, 80, 10, dtype=np.uint8)[:, None], 8, axis=1)
    >>> dx, dy = hog_gradients(ramp, hog_tables(8, 8, (4, 4), (2, 2), (1, 1), 9, False))
    >>> float(dx.max()), float(dy[3, 3])
    (0.0, 20.0)
    """
    lut = np.sqrt(np.arange(256, dtype=_F)) if gamma_correction else None
    work = _Workspace(1, image.shape[0], image.shape[1], 1 if color == "gray" else 3, tables)
    dx, dy = _gradients(image[None], lut, work)
    return np.ascontiguousarray(dx[:, 0]), np.ascontiguousarray(dy[:, 0])


class _Tables:
    """Per-geometry constants: the axis weight matrices and the bin wrap tables."""

    def __init__(self, height, width, cell_size, block_size, block_stride, orientations,
                 signed):
        block_px = [block_size[a] * cell_size[a] for a in (0, 1)]
        for axis, name, size in ((0, "width", width), (1, "height", height)):
            stride_px = block_stride[axis] * cell_size[axis]
            if min(cell_size[axis], block_size[axis], stride_px) < 1 or size < block_px[axis] \
                    or (size - block_px[axis]) % stride_px:
                raise ValueError(
                    f"the image {name} {size} must be at least the block's {block_px[axis]} px "
                    f"and exceed it by a multiple of the {stride_px} px block stride")
        if orientations < 1:
            raise ValueError(f"orientations must be >= 1; got {orientations}")
        sigma = _F(sum(block_px) / 8.0)
        inv = _F(1) / (sigma * sigma * _F(2))
        self.wx_t = np.ascontiguousarray(
            _axis_weights(width, cell_size[0], block_size[0], block_stride[0], inv).T)
        self.wy_t = np.ascontiguousarray(
            _axis_weights(height, cell_size[1], block_size[1], block_stride[1], inv).T)
        self.cells = tuple(block_size)
        self.blocks = (self.wx_t.shape[0] // block_size[0], self.wy_t.shape[0] // block_size[1])
        self.orientations = orientations
        self.n_features = self.wx_t.shape[0] * self.wy_t.shape[0] * orientations
        self.scale = _F(orientations / (2 * np.pi)) if signed else _F(orientations / np.pi)
        # the lower bin is floor(angle * scale - 0.5) in [-1, 2 * orientations): index + 1
        self.bin0 = np.arange(-1, 2 * orientations) % orientations
        self.bin1 = np.arange(0, 2 * orientations + 1) % orientations
        self.workspaces = {}  # channels -> idle _Workspace objects
        cost = self.wy_t.shape[0] * height * orientations  # multiply-adds per pixel column
        self.group = max(g for g in range(1, width + 1) if width % g == 0 and
                         (g == 1 or g * cost <= _BLAS_SERIAL))


@functools.lru_cache(maxsize=32)
def _tables(height, width, cell_size, block_size, block_stride, orientations, signed):
    """The :class:`_Tables` of one geometry, built once."""
    return _Tables(height, width, cell_size, block_size, block_stride, orientations, signed)


def _axis_weights(size, cell, cells, stride, inv_two_sigma2):
    """(size, blocks * cells) float32: the weight of each pixel row (or column) in each
    (block, cell) along one axis: OpenCV's Gaussian factor times its bilinear cell weight."""
    block = cells * cell
    blocks = (size - block) // stride // cell + 1
    table = np.zeros((size, blocks, cells), _F)
    starts = np.arange(blocks) * stride * cell
    for j in range(block):
        pos = (_F(j) + _F(0.5)) / _F(cell) - _F(0.5)  # position in cells, from the first centre
        first = int(np.floor(pos))
        frac = pos - _F(first)
        offset = _F(j) - _F(block) * _F(0.5)
        gauss = np.exp(-(offset * offset) * inv_two_sigma2)
        for k, w in ((first, _F(1) - frac), (first + 1, frac)):
            if 0 <= k < cells:
                table[starts + j, np.arange(blocks), k] = gauss * w
    return table.reshape(size, -1)


class _Workspace:
    """Scratch arrays for one chunk of images, reused by every chunk and call of a geometry:
    fresh arrays would cost page faults, and a chunk keeps them in cache."""

    def __init__(self, m, height, width, channels, t):
        px, nb = m * height * width, t.orientations
        color = px * channels if channels > 1 else 0
        rows = m * t.wy_t.shape[0] * width * nb if t.group < width else 0
        sizes = {"dx": px * channels, "dy": px * channels, "sq": color, "sq_y": color,
                 "mag": px, "angle": px, "lower": px, "upper": px, "votes": px * nb, "rows": rows}
        self.buffers = {name: np.empty(size, _F) for name, size in sizes.items()}
        self.buffers.update(index=np.empty(px, np.intp), slot=np.empty(px, np.intp))
        self.base = np.arange(0, px * nb, nb)

    def get(self, name, shape):
        """The scratch array ``name`` viewed with ``shape`` (a prefix of its buffer)."""
        return self.buffers[name][:int(np.prod(shape, dtype=np.intp))].reshape(shape)


def _gradients(images, lut, work):
    """(x, y) derivatives (H, N, W) float32, of the strongest channel of color images.

    Images are laid side by side, (C, H, N, W), so that ``cv2.Sobel`` runs over long rows;
    the columns it computes across two images are each image's border, reset to 0.
    """
    m, height, width = images.shape[:3]
    side = np.ascontiguousarray(images.swapaxes(0, 1)).reshape(height, m * width, -1)
    planes = cv2.split(side) if side.shape[2] == 3 else [side[:, :, 0]]
    shape = (len(planes), height, m, width)
    dx, dy = work.get("dx", shape), work.get("dy", shape)
    for plane, px, py in zip(planes, dx, dy, strict=True):
        if lut is not None:
            plane = cv2.LUT(plane, lut)
        # [-1, 0, 1] differences, BORDER_REFLECT_101: the derivative across a border is 0
        cv2.Sobel(plane, cv2.CV_32F, 1, 0, dst=px.reshape(plane.shape), ksize=1)
        cv2.Sobel(plane, cv2.CV_32F, 0, 1, dst=py.reshape(plane.shape), ksize=1)
    dx[..., 0] = dx[..., -1] = 0
    if len(dx) == 1:
        return dx[0], dy[0]
    sq = np.multiply(dx, dx, out=work.get("sq", shape))
    sq += np.multiply(dy, dy, out=work.get("sq_y", shape))
    sq2, dx2, dy2 = (a.reshape(3, height, -1) for a in (sq, dx, dy))  # 2-D planes for cv2
    # OpenCV's SIMD loop: channel 2 if sq2 > sq1 else 1; then that one if its sq > sq0, else 0.
    pick2 = cv2.compare(sq2[2], sq2[1], cv2.CMP_GT)
    best = cv2.max(sq2[2], sq2[1])
    lose = cv2.compare(best, sq2[0], cv2.CMP_LE)
    tail = width - width % _SIMD_WIDTH
    if tail < width:  # its scalar loop for the last W % 4 columns: ties go the other way
        grid = (height, m, width)
        pick2.reshape(grid)[..., tail:] = np.where(sq[2, ..., tail:] >= sq[1, ..., tail:], 255, 0)
        lose.reshape(grid)[..., tail:] = np.where(
            best.reshape(grid)[..., tail:] < sq[0, ..., tail:], 255, 0)
    for d in (dx2, dy2):
        cv2.copyTo(d[2], pick2, d[1])
        cv2.copyTo(d[0], lose, d[1])
    return dx[1], dy[1]


def _describe(dx, dy, t, work, out):
    """Write the normalized block histograms of derivatives (H, N, W) into ``out`` (N, F)."""
    height, m, width = dx.shape
    nb, px = t.orientations, dx.size
    mag, angle = work.get("mag", (m * height, width)), work.get("angle", (m * height, width))
    cv2.cartToPolar(dx.reshape(-1, width), dy.reshape(-1, width), magnitude=mag, angle=angle)
    np.multiply(angle, t.scale, out=angle)
    np.subtract(angle, _F(0.5), out=angle)
    lower = np.floor(angle, out=work.get("lower", angle.shape))
    angle -= lower  # the share of the upper bin
    upper = np.multiply(mag, angle, out=work.get("upper", angle.shape))
    np.subtract(_F(1), angle, out=angle)
    np.multiply(mag, angle, out=mag)  # the lower bin's vote
    index, slot = work.get("index", (px,)), work.get("slot", (px,))
    np.copyto(index, lower.ravel(), casting="unsafe")
    index += 1
    # one-hot votes (H, N, W, bins), then the weights along y and x as matrix products
    votes = work.get("votes", (px * nb,))
    votes.fill(0)
    for table, vote in ((t.bin0, mag), (t.bin1, upper)):
        np.take(table, index, out=slot, mode="clip")
        slot += work.base[:px]
        votes[slot] = vote.ravel()
    # BLAS calls stay single-threaded (OpenBLAS threads products of 2**19 multiply-adds and
    # more, a loss on a busy machine): the y product takes the columns in groups of g.
    ny, g = t.wy_t.shape[0], t.group
    rows = np.matmul(t.wy_t, votes.reshape(height, m, width // g, g * nb).transpose(1, 2, 0, 3))
    if g < width:  # (N, W/g, by*cy, g, bins) -> (N, by*cy, W, bins)
        grouped = rows.reshape(m, width // g, ny, g, nb).transpose(0, 2, 1, 3, 4)
        rows = work.get("rows", grouped.shape)
        np.copyto(rows, grouped)
    hist = np.matmul(t.wx_t, rows.reshape(m * ny, width, nb))  # (N*by*cy, bx*cx, bins)
    (bx, by), (cx, cy) = t.blocks, t.cells
    np.copyto(out.reshape(m, bx, by, cx, cy, nb),
              hist.reshape(m, by, cy, bx, cx, nb).transpose(0, 3, 1, 4, 2, 5))
    _l2_hys(out.reshape(m, bx * by, -1))


def _l2_hys(hist):
    """OpenCV's L2-Hys on (N, blocks, values) in place; ``min(v * s, 0.2) * r`` is computed
    as ``min(v, 0.2 / s) * (s * r)``: two passes fewer, equal to float rounding."""
    size = hist.shape[-1]
    scale = _F(1) / (np.sqrt(np.einsum("ijk,ijk->ij", hist, hist)) + _F(size) * _F(0.1))
    np.minimum(hist, (_F(0.2) / scale)[..., None], out=hist)
    norm = np.sqrt(np.einsum("ijk,ijk->ij", hist, hist)) * scale
    hist *= (scale / (norm + _F(1e-3)))[..., None]
