"""Batch scoring: inputs, chunks, output formats, resumable outputs, and the scoring run.

- :mod:`~l2vision.scoring.inputs`: files, folders, globs, manifests, stdin -> paths.
- :mod:`~l2vision.scoring.chunks`: the fixed-position chunks that make resuming exact.
- :mod:`~l2vision.scoring.formats`: CSV and JSONL writers behind one interface.
- :mod:`~l2vision.scoring.partial`: ``OUT.partial``, its sidecar, resume, final rename.
- :mod:`~l2vision.scoring.predict`: :func:`predict_paths` (streaming), chunk by chunk,
  here or on a Dask cluster.
- :mod:`~l2vision.scoring.run`: :func:`score_files`, a whole resumable job.
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "CHUNK_BATCHES": ".chunks",
    "Chunk": ".chunks",
    "iter_chunks": ".chunks",
    "InputError": ".inputs",
    "InputPaths": ".inputs",
    "iter_paths": ".inputs",
    "ResumeError": ".partial",
    "Prediction": ".predict",
    "predict_paths": ".predict",
    "FailFastError": ".run",
    "ScoreSummary": ".run",
    "score_files": ".run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
