"""Parameter checks shared by every estimator and public function.

Each check raises :class:`ValueError` with scikit-learn's message shape,
naming the parameter, its owner (a class or a function), what is allowed and
the value received, plus the fix where there is one:

    The 'orientations' parameter of HOG must be an int >= 1. Got 0.

Estimators call them from their ``_check_params()`` at the start of ``fit``
(and of ``transform`` for stateless extractors), so a bad value is reported
before any pixel is read. Messages speak of parameters, never of command-line
flags: the CLI adds those.
"""

from __future__ import annotations

from numbers import Integral, Real

__all__ = ["check_bool", "check_int", "check_levels", "check_option", "check_pair",
           "check_real", "invalid"]


def _owner_name(owner) -> str:
    return owner if isinstance(owner, str) else type(owner).__name__


def invalid(owner, name: str, allowed: str, value, fix: str = "") -> ValueError:
    """The error for parameter ``name`` of ``owner`` (an object or a name).

    Examples
    --------
    >>> print(invalid("HOG", "orientations", "an int >= 1", 0))
    The 'orientations' parameter of HOG must be an int >= 1. Got 0.
    >>> print(invalid("f", "size", "a pair", 3, fix="Use (3, 3)."))
    The 'size' parameter of f must be a pair. Got 3. Use (3, 3).
    """
    text = f"The {name!r} parameter of {_owner_name(owner)} must be {allowed}. Got {value!r}."
    return ValueError(f"{text} {fix}" if fix else text)


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _bounds(low, high, low_open=False, high_open=False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def _in_bounds(value, low, high, low_open, high_open) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def check_int(owner, name: str, value, *, low: int | None = None, high: int | None = None,
              optional: bool = False, fix: str = "") -> None:
    """An int (not a bool) in ``[low, high]``; None too when ``optional``.

    Examples
    --------
    >>> check_int("HOG", "orientations", 9, low=1)
    >>> check_int("HOG", "orientations", True, low=1)
    Traceback (most recent call last):
    ValueError: The 'orientations' parameter of HOG must be an int >= 1. Got True.
    """
    if value is None and optional:
        return
    if not (_is_int(value) and _in_bounds(value, low, high, False, False)):
        bounds = _bounds(low, high)
        allowed = "an int" + (f" {bounds}" if bounds else "") + (" or None" if optional else "")
        raise invalid(owner, name, allowed, value, fix)


def check_real(owner, name: str, value, *, low: float | None = None,
               high: float | None = None, low_open: bool = False, high_open: bool = False,
               optional: bool = False, fix: str = "") -> None:
    """A finite real number (not a bool) within the bounds; None too when ``optional``.

    Examples
    --------
    >>> check_real("make_pipeline", "lam", 0.0, low=0, low_open=True, optional=True)
    Traceback (most recent call last):
    ValueError: The 'lam' parameter of make_pipeline must be a float > 0 or None. Got 0.0.
    """
    if value is None and optional:
        return
    ok = _is_real(value) and value == value and abs(value) != float("inf") \
        and _in_bounds(value, low, high, low_open, high_open)
    if not ok:
        bounds = _bounds(low, high, low_open, high_open)
        allowed = "a float" + (f" {bounds}" if bounds else "") + (" or None" if optional else "")
        raise invalid(owner, name, allowed, value, fix)


def check_option(owner, name: str, value, options, *, fix: str = "") -> None:
    """One of ``options`` (compared with ``==``; booleans only match booleans).

    Examples
    --------
    >>> check_option("LBP", "method", "ror", ("uniform", "nri_uniform"))
    Traceback (most recent call last):
    ValueError: The 'method' parameter of LBP must be one of 'uniform', 'nri_uniform'. Got 'ror'.
    """
    for option in options:
        if isinstance(option, bool) or isinstance(value, bool):
            if value is option:
                return
        elif value == option:
            return
    raise invalid(owner, name, "one of " + ", ".join(repr(o) for o in options), value, fix)


def check_bool(owner, name: str, value) -> None:
    """True or False.

    Examples
    --------
    >>> check_bool("HOG", "signed", 1)
    Traceback (most recent call last):
    ValueError: The 'signed' parameter of HOG must be one of False, True. Got 1.
    """
    check_option(owner, name, value, (False, True))


def check_pair(owner, name: str, value, *, low: int = 1, optional: bool = False,
               fix: str = "") -> None:
    """A ``(width, height)`` tuple or list of two ints >= ``low``; None too when ``optional``.

    Examples
    --------
    >>> check_pair("ImageFeatures", "size", True, optional=True)
    Traceback (most recent call last):
    ValueError: The 'size' parameter of ImageFeatures must be a (width, height) pair of ints
    >= 1 or None. Got True.
    """
    if value is None and optional:
        return
    ok = isinstance(value, (tuple, list)) and len(value) == 2 \
        and all(_is_int(v) and v >= low for v in value)
    if not ok:
        none = " or None" if optional else ""
        raise invalid(owner, name, f"a (width, height) pair of ints >= {low}{none}", value, fix)


def check_levels(owner, name: str, value, *, example: str = "(1, 2)") -> None:
    """A non-empty tuple or list of ints >= 1 (e.g. spatial-pyramid levels).

    Examples
    --------
    >>> check_levels("LBP", "grid", ())
    Traceback (most recent call last):
    ValueError: The 'grid' parameter of LBP must be a non-empty tuple of ints >= 1,
    e.g. (1, 2). Got ().
    """
    ok = isinstance(value, (tuple, list)) and len(value) > 0 \
        and all(_is_int(v) and v >= 1 for v in value)
    if not ok:
        raise invalid(owner, name, f"a non-empty tuple of ints >= 1, e.g. {example}", value)
