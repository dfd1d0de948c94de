"""The registry of feature extractors: spec names (``hog``, ``cnn:NETWORK``...) to factories.

Everything that turns a ``--features`` spec into extractors, lists the known
extractors or describes them reads this one table: :func:`make_features
<l2vision.pipelines.build.make_features>`, the CLI's help, ``l2vision features
list`` and the driver's error messages.

A spec is ``name`` or ``name:ARG:ARG...``; the arguments reach the factory as
strings, in order. A factory returns one extractor (an
:class:`~l2vision.features.ImageExtractor`) or a list of extractors and
``(name, extractor)`` pairs. Its signature gives the syntax shown to users
(``hog[:SIZE]`` for ``def from_spec(size=None)``, unless it has a
``spec_args`` attribute) and the first line of its docstring the description.

Third-party packages add extractors through the ``l2vision.features``
entry-point group, with no change to l2vision::

    [project.entry-points."l2vision.features"]
    gabor = "mypkg:make_gabor"

after which ``l2vision train photos/ --features hog,gabor:8`` calls
``make_gabor("8")``. A plugin that fails to load is skipped with a
:class:`FeaturePluginWarning` naming it; a plugin whose name is already taken
(by a built-in or another plugin) is a :class:`FeaturePluginError` naming both.

Adding a built-in extractor: one module in ``l2vision/features/`` with the
class and its ``from_spec`` factory, and one line in :data:`BUILTIN`.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

from l2vision._validation import ParameterError
from l2vision.features import auto, bovw, cnn, color, hog, kmeans, texture, tiny
from l2vision.features.base import ImageExtractor
from l2vision.features.color import ColorHistogram
from l2vision.features.hog import HOG
from l2vision.features.texture import LBP
from l2vision.features.tiny import TinyImage

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "FeatureEntry", "FeaturePluginError",
           "FeaturePluginWarning", "available", "builtin_classes", "parse_features"]

#: The entry-point group third-party extractors register in.
ENTRY_POINT_GROUP = "l2vision.features"


class FeaturePluginError(ValueError):
    """Two extractors claim the same spec name (a plugin and a built-in, or two plugins)."""


class FeaturePluginWarning(UserWarning):
    """A feature plugin could not be loaded and was skipped."""


def best() -> list:
    """The strongest hand-crafted set for small photos: multi-scale HOG, color, LBP, tiny image.

    Chosen on a CIFAR-10 validation split: multi-scale color HOG, spatial HSV
    and Lab histograms (Hellinger-mapped), multi-radius LBP and a 16x16 tiny
    image, 12,660 features per image.
    """
    return [
        ("hog8", HOG(size=(64, 64), cell_size=(8, 8), color="max")),
        ("hog4", HOG(size=(32, 32), cell_size=(4, 4), color="max")),
        ("hog6", HOG(12, size=(48, 48), cell_size=(6, 6), color="max", signed=True)),
        ("hsv", ColorHistogram(grid=(1, 2, 4), sqrt=True)),
        ("lab", ColorHistogram("lab", bins=(4, 6, 6), grid=(1, 2, 4), sqrt=True)),
        ("lbp", LBP(grid=(1, 2, 4))),
        ("lbp16", LBP(16, radius=2, grid=(1, 2))),
        ("tiny", TinyImage((16, 16))),
    ]


#: The built-in extractors: spec name -> factory, one line each.
BUILTIN: dict[str, Callable] = {
    "hog": hog.from_spec,
    "color": color.from_spec,
    "lbp": texture.from_spec,
    "tiny": tiny.from_spec,
    "cnn": cnn.from_spec,
    "photo": auto.photo_spec,
    "best": best,
    "kmeans": kmeans.from_spec,
    "bovw": bovw.from_spec,
}

#: Not a factory: ``auto`` is resolved in ``ImageFeatures.fit`` from the training images.
AUTO = "auto"
AUTO_DESCRIPTION = ("choose from the training images: hog,color,lbp for images under 16 px "
                    "(the 8x8 digits), photo for everything else")


@dataclass(frozen=True)
class FeatureEntry:
    """One registered extractor: its spec name, factory, syntax, description and origin."""

    name: str
    factory: Callable
    origin: str  # "built-in", or "plugin DIST VERSION (module:attr)"

    @property
    def syntax(self) -> str:
        """``name[:ARG]...`` from the factory's signature (``:ARG`` required, ``[:ARG]`` not).

        A factory may state its arguments itself in a ``spec_args`` attribute
        (``"[:MODEL[:LAYER+LAYER]]"``) when the signature cannot say it.

        Examples
        --------
        >>> FeatureEntry("hog", hog.from_spec, "built-in").syntax
        'hog[:SIZE]'
        """
        if getattr(self.factory, "spec_args", None):
            return self.name + self.factory.spec_args
        text, optional = self.name, 0
        for p in inspect.signature(self.factory).parameters.values():
            if p.kind is p.VAR_POSITIONAL:
                return text + f"[:{p.name.upper()}...]" + "]" * optional
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                continue
            if p.default is p.empty:
                text += f":{p.name.upper()}"
            else:
                text += f"[:{p.name.upper()}"
                optional += 1
        return text + "]" * optional

    @property
    def description(self) -> str:
        """The first line of the factory's docstring."""
        doc = inspect.getdoc(self.factory) or ""
        return doc.splitlines()[0] if doc else ""

    def build(self, args: Sequence[str], spec: str) -> list:
        """The extractors for ``spec`` (``args`` are its ``:``-separated arguments)."""
        try:
            inspect.signature(self.factory).bind(*args)
        except TypeError:
            raise ValueError(f"Feature spec {spec!r}: {self.name} takes {self.syntax} "
                             f"({len(args)} argument(s) given).") from None
        try:
            made = self.factory(*args)
        except ParameterError as exc:  # said again of the spec as the user wrote it
            raise ParameterError(f"feature spec {spec!r}", exc.name, exc.allowed, exc.value,
                                 exc.fix) from None
        except ValueError as exc:
            raise ValueError(f"Feature spec {spec!r}: {exc}") from None
        items = list(made) if isinstance(made, (list, tuple)) and not _is_pair(made) else [made]
        for item in items:
            extractor = item[1] if _is_pair(item) else item
            if not isinstance(extractor, ImageExtractor):
                raise ValueError(f"Feature spec {spec!r}: the {self.origin} factory returned "
                                 f"{extractor!r}, not an l2vision extractor (a subclass of "
                                 "l2vision.features.ImageExtractor)")
        return items


def _is_pair(item) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)


def _plugins() -> list[FeatureEntry]:
    """Entries of the installed packages' ``l2vision.features`` entry points."""
    found = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(point, "dist", None)
        where = f"{dist.name} {dist.version}" if dist is not None else "unknown package"
        origin = f"plugin {where} ({point.value})"
        try:
            factory = point.load()
            if not callable(factory):
                raise TypeError(f"{point.value} is a {type(factory).__name__}, not a callable")
        except Exception as exc:  # a broken plugin must not break l2vision
            warnings.warn(f"l2vision feature plugin {point.name!r} from {where} "
                          f"({point.value}) could not be loaded and is skipped: "
                          f"{type(exc).__name__}: {exc}", FeaturePluginWarning, stacklevel=3)
            continue
        found.append(FeatureEntry(point.name, factory, origin))
    return found


def available() -> dict[str, FeatureEntry]:
    """Every registered extractor by spec name: the built-ins, then the plugins.

    Raises
    ------
    FeaturePluginError
        A plugin's name is a built-in's or another plugin's.
    """
    entries = {name: FeatureEntry(name, factory, "built-in") for name, factory in BUILTIN.items()}
    for entry in _plugins():
        if entry.name in entries:
            other = entries[entry.name]
            raise FeaturePluginError(
                f"Feature name {entry.name!r} is claimed twice: by the {entry.origin} and by "
                f"the {other.origin} extractor; uninstall one, or rename the plugin's entry "
                f"point in the {ENTRY_POINT_GROUP!r} group.")
        entries[entry.name] = entry
    return entries


def parse_features(spec: str | Sequence) -> list:
    """Extractors (and ``(name, extractor)`` pairs) from a spec string or a list.

    Parameters
    ----------
    spec : str or sequence
        Comma-separated specs (``"hog,color,cnn:mobilenet_v1_0.25:conv13+conv11"``),
        or a list mixing spec strings, extractors and ``(name, extractor)`` pairs.

    Raises
    ------
    ValueError
        An unknown name (the message lists the known ones), wrong arguments,
        or nothing at all.

    Examples
    --------
    >>> [type(e).__name__ for e in parse_features("hog, color")]
    ['HOG', 'ColorHistogram']
    >>> parse_features("hog:64")[0].cell_size
    (8, 8)
    """
    items = [s.strip() for s in spec.split(",") if s.strip()] if isinstance(spec, str) \
        else list(spec)
    entries = None
    extractors = []
    for item in items:
        if isinstance(item, ImageExtractor) or _is_pair(item):
            extractors.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"Feature {item!r} is neither a spec string nor an l2vision "
                             "extractor.")
        entries = entries if entries is not None else available()
        name, _, rest = item.partition(":")
        if name == AUTO:
            raise ValueError("Feature 'auto' chooses the features from the training images: "
                             "use it alone (ImageFeatures('auto') or make_features('auto')).")
        if name not in entries:
            known = ", ".join(entries)
            raise ValueError(f"Unknown feature {item!r}; choose from {known} "
                             "(comma-separated, e.g. 'hog,color,lbp').")
        extractors += entries[name].build(rest.split(":") if rest else [], item)
    if not extractors:
        known = ", ".join(available())
        raise ValueError(f"No features given; choose from {known}.")
    return extractors


def builtin_classes() -> list[str]:
    """Class names of the built-in extractors (for messages).

    Examples
    --------
    >>> builtin_classes()[:5]
    ['HOG', 'ColorHistogram', 'LBP', 'TinyImage', 'CNNEmbedding']
    >>> builtin_classes()[5:]
    ['KMeansFeatures', 'BagOfVisualWords']
    """
    names = []
    for name, factory in BUILTIN.items():
        for item in FeatureEntry(name, factory, "built-in").build([], name):
            class_name = type(item[1] if _is_pair(item) else item).__name__
            if class_name not in names:
                names.append(class_name)
    return names
