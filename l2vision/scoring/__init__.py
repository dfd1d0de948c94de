"""Batch scoring: inputs, chunks, output formats, resumable outputs, and the scoring run.

- :mod:`~l2vision.scoring.inputs`: files, folders, globs, manifests, stdin -> paths.
- :mod:`~l2vision.scoring.chunks`: the fixed-position chunks that make resuming exact.
- :mod:`~l2vision.scoring.formats`: CSV and JSONL writers behind one interface.
- :mod:`~l2vision.scoring.partial`: ``OUT.partial``, its sidecar, resume, final rename.
- :mod:`~l2vision.scoring.predict`: :func:`predict_paths` (streaming), chunk by chunk,
  here or on a Dask cluster.
- :mod:`~l2vision.scoring.run`: :func:`score_files`, a whole resumable job.
"""

from l2vision.scoring.chunks import CHUNK_BATCHES, Chunk, iter_chunks
from l2vision.scoring.inputs import InputError, iter_paths
from l2vision.scoring.partial import ResumeError
from l2vision.scoring.run import (
    FailFastError,
    Prediction,
    ScoreSummary,
    predict_paths,
    score_files,
)

__all__ = ["CHUNK_BATCHES", "Chunk", "FailFastError", "InputError", "Prediction",
           "ResumeError", "ScoreSummary", "iter_chunks", "iter_paths", "predict_paths",
           "score_files"]
