"""Corruption names, severities and augmentations as users write them, checked.

The command line and the Python API take ``"all"``, family names or lists of
corruption names (``"noise,flip"``), severities as ranges or lists (``"1-3"``,
``"1,3,5"``) and training augmentations with optional severities
(``"flip,crop:2"``); these functions turn them into the names and ints of
:mod:`l2vision.corruptions.catalog`, or a ``ValueError`` that lists what is known.
"""

from __future__ import annotations

import numpy as np

from l2vision._validation import invalid
from l2vision.corruptions.catalog import CORRUPTIONS, FAMILIES, SEVERITIES, corruption_function

__all__ = ["parse_augmentations", "parse_corruptions", "parse_severities"]


def parse_corruptions(spec: str | list | tuple) -> list[str]:
    """``"all"``, a family name, or a comma-separated list of names (or families).

    Examples
    --------
    >>> parse_corruptions("noise,flip")
    ['gaussian_noise', 'shot_noise', 'impulse_noise', 'flip']
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in (str(i).strip() for i in items):
        if item == "all":
            names.extend(CORRUPTIONS)
        elif item in FAMILIES:
            names.extend(FAMILIES[item])
        elif item:
            corruption_function(item)
            names.append(item)
    if not names:
        raise ValueError(f"no corruption named in {spec!r}; known: all, "
                         f"{', '.join(FAMILIES)}, {', '.join(CORRUPTIONS)}")
    return list(dict.fromkeys(names))


_SEVERITIES_ALLOWED = "in 1-5, as '1-5', '3' or '1,3,5'"


def parse_severities(spec: str | int | list | tuple) -> list[int]:
    """``"1-5"``, ``"3"``, ``"1,3,5"`` (or a list of ints) as a sorted list of severities 1-5.

    Examples
    --------
    >>> parse_severities("1-3"), parse_severities("5,1")
    ([1, 2, 3], [1, 5])
    """
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        items = [spec]
    elif isinstance(spec, str):
        items = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            low, sep, high = part.partition("-")
            try:
                items.extend(range(int(low), int(high) + 1) if sep else [int(low)])
            except ValueError:
                raise invalid("robustness", "severities", _SEVERITIES_ALLOWED, spec) from None
    else:
        items = list(spec)
    bad = [s for s in items if s not in SEVERITIES]
    if bad or not items:
        raise invalid("robustness", "severities", _SEVERITIES_ALLOWED, spec)
    return sorted(set(int(s) for s in items))


def parse_augmentations(spec: str | list | tuple | None) -> list[tuple[str, int]]:
    """Training augmentations: ``"flip,crop"`` or ``"crop:2,rotate:1"`` as ``(name, severity)``.

    Each names a corruption; the severity defaults to 1 (a mild change that
    keeps the label). None or ``""`` is no augmentation.

    Examples
    --------
    >>> parse_augmentations("flip,crop:2")
    [('flip', 1), ('crop', 2)]
    """
    if spec is None:
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        name, _, level = item.partition(":")
        corruption_function(name)
        severity = parse_severities(level) if level else [1]
        if len(severity) != 1:
            raise ValueError(f"augmentation {item!r}: one severity per augmentation, e.g. crop:2")
        out.append((name, severity[0]))
    return list(dict.fromkeys(out))
