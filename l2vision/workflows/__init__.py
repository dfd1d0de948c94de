"""The jobs the commands run, as Python functions: train, evaluate, robustness, study.

Each takes data and options, does the whole job on the library's building
blocks (features, the λ search, persistence) and returns plain results (a
dataclass or a JSON-serializable dict); the command line only parses, calls
and prints. How the work runs (workers, scheduler, cache, progress) comes from
:func:`l2vision.config_context`.

- :mod:`~l2vision.workflows.train`: :func:`l2vision.train` (split, extract once,
  search λ, refit).
- :mod:`~l2vision.workflows.evaluate`: metrics of a model on labelled images.
- :mod:`~l2vision.workflows.robustness`: :func:`l2vision.robustness`, accuracy
  under corruptions.
- :mod:`~l2vision.workflows.study`: :func:`l2vision.study`, clean and corrupted
  accuracy along λ.
"""

from l2vision._lazy import lazy_exports

# The functions named like their modules (train, robustness, study) are
# l2vision.train, l2vision.robustness and l2vision.study: a package attribute
# cannot be both a submodule and a function.
_EXPORTS = {
    "TrainResult": ".train",
    "classification_metrics": ".evaluate",
    "evaluate_images": ".evaluate",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
