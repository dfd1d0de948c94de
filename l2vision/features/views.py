"""Copies of each decoded image, featurized in the driver's one decode loop.

What :meth:`ImageFeatures.transform_views <l2vision.features.ImageFeatures.transform_views>`
runs: each batch is decoded once in a worker, a ``views`` function makes the
copies of every image (corrupted, augmented), each key's copies are
featurized together and, optionally, reduced in the worker (a model's
prediction), so only small results come back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from l2vision.config import get_config
from l2vision.distributed import get_client
from l2vision.features._batches import Decoding, run_batches, views_batch
from l2vision.features._progress import progress_bar

__all__ = ["ViewFeatures", "run_views"]


@dataclass
class ViewFeatures:
    """What :meth:`ImageFeatures.transform_views` returns.

    Attributes
    ----------
    positions : ndarray of int
        The readable images' positions in the input, ascending.
    outputs : dict
        For each key the views function returned: the features of every
        readable image's copy (or ``reduce``'s output), stacked in ``positions`` order.
    errors : dict of int to ImageReadError
        The unreadable images by position.
    """

    positions: np.ndarray
    outputs: dict
    errors: dict



def run_views(named, images, views: Callable, reduce: Callable | None, decoding: Decoding,
              n_jobs: int) -> ViewFeatures:
    """Every batch of ``images`` through :func:`~l2vision.features._batches.views_batch`.

    Runs in this process, joblib workers or Dask tasks (the settings of
    :func:`l2vision.config_context`); results come back in input order.

    Raises
    ------
    ValueError
        None of the images could be read.
    """
    batch_size = get_config()["batch_size"]
    results = run_batches(views_batch, named, images, batch_size, decoding, n_jobs,
                          get_client(), extra=(views, reduce))
    positions, parts, errors = [], {}, {}
    with progress_bar(get_config()["progress"], len(images)) as bar:
        for start, (read, outputs, failed) in zip(range(0, len(images), batch_size),
                                                  results, strict=True):
            positions.extend(read)
            for key, value in outputs.items():
                parts.setdefault(key, []).append(value)
            errors.update(failed)
            bar.update(min(batch_size, len(images) - start))
    if not positions:
        first = next(iter(errors.values()), "no images")
        raise ValueError(f"none of the {len(images)} images could be read (first error: "
                         f"{first})")
    return ViewFeatures(np.asarray(positions),
                        {key: np.concatenate(value) for key, value in parts.items()}, errors)
