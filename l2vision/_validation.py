"""Parameter checks shared by every estimator and public function: one kind of error.

Each check raises :class:`ParameterError` (a :class:`ValueError`) with
scikit-learn's message shape, naming the parameter, its owner (a class or a
function), what is allowed and the value received, plus the fix where there
is one:

    The 'orientations' parameter of HOG must be an int >= 1. Got 0.

The error also carries those parts as attributes, so the command line can
name its own flag instead (``--test-size must be ...``) through argparse's
table of options, without rewording the message.

Estimators call the checks from their ``_check_params()`` at the start of
``fit`` (and of ``transform`` for stateless extractors), so a bad value is
reported before any pixel is read. Feature-spec factories (``hog:64``) parse
their ``:``-separated arguments with :func:`spec_int`, :func:`spec_real` and
:func:`spec_option`, which raise the same error, owned by the spec.
"""

from __future__ import annotations

from numbers import Integral, Real

__all__ = ["HintedError", "ParameterError", "ParameterHint", "check_bool", "check_int",
           "check_levels", "check_option", "check_pair", "check_real", "invalid", "spec_int",
           "spec_option", "spec_real"]


class ParameterHint:
    """A message that tells the fix in terms of parameters, rendered for its reader.

    In Python the parameters read as ``overwrite=True``; on the command line
    as ``--overwrite``: the CLI renders the same hint with its own flags
    (from argparse's table), so no message is ever reworded by string
    replacement.

    Parameters
    ----------
    template : str
        The message with ``{name}`` fields, one per parameter.
    **parameters
        The value each parameter should take (``True`` for a switch), or None
        to name the parameter alone.

    Examples
    --------
    >>> hint = ParameterHint("p.csv: file exists; use {overwrite} to replace it", overwrite=True)
    >>> str(hint)
    'p.csv: file exists; use overwrite=True to replace it'
    >>> hint.render(lambda name, value: "--" + name.replace("_", "-"))
    'p.csv: file exists; use --overwrite to replace it'
    """

    def __init__(self, template: str, **parameters):
        self.template = template
        self.parameters = parameters

    def render(self, name_of) -> str:
        """The message with each parameter written by ``name_of(name, value)``.

        Only the ``{name}`` fields of the given parameters are replaced, so
        other braces (a file name with ``{}``) are kept as they are.
        """
        text = self.template
        for name, value in self.parameters.items():
            text = text.replace("{" + name + "}", name_of(name, value))
        return text

    def __str__(self) -> str:
        return self.render(lambda name, value: repr(name) if value is None
                           else f"{name}={value!r}")


class HintedError(Exception):
    """An error (or warning) whose message is a :class:`ParameterHint` (``.hint``).

    Mixed into the builtin type it refines: ``class OutputExistsError(HintedError,
    FileExistsError)``.
    """

    def __init__(self, template: str, **parameters):
        self.hint = ParameterHint(template, **parameters)
        super().__init__(str(self.hint))

    def __reduce__(self):
        return (_rebuild_hinted, (type(self), self.hint.template, self.hint.parameters))


def _rebuild_hinted(cls, template, parameters):
    return cls(template, **parameters)


class ParameterError(ValueError):
    """A parameter (or a command-line option, or a feature-spec argument) has a bad value.

    Parameters
    ----------
    owner : str
        The class, function or feature spec the parameter belongs to.
    name : str
        The parameter's name (``"test_size"``).
    allowed : str
        What is allowed, as a phrase (``"a float in [0, 1)"``).
    value : object
        The value received.
    fix : str, default=""
        How to fix it, when there is more to say.

    Attributes
    ----------
    owner, name, allowed, value, fix :
        As given.

    Examples
    --------
    >>> error = ParameterError("train", "test_size", "a float in [0, 1)", 1.5)
    >>> print(error)
    The 'test_size' parameter of train must be a float in [0, 1). Got 1.5.
    >>> print(error.describe("--test-size"))
    --test-size must be a float in [0, 1); got 1.5
    """

    def __init__(self, owner: str, name: str, allowed: str, value, fix: str = ""):
        self.owner, self.name, self.allowed, self.value, self.fix = \
            owner, name, allowed, value, fix
        text = f"The {name!r} parameter of {owner} must be {allowed}. Got {value!r}."
        super().__init__(f"{text} {fix}" if fix else text)

    def __reduce__(self):
        return (type(self), (self.owner, self.name, self.allowed, self.value, self.fix))

    def describe(self, option: str) -> str:
        """The same message about a command-line ``option`` (``"--test-size"``)."""
        fix = f" ({self.fix})" if self.fix else ""
        return f"{option} must be {self.allowed}; got {self.value!r}{fix}"


def _owner_name(owner) -> str:
    return owner if isinstance(owner, str) else type(owner).__name__


def invalid(owner, name: str, allowed: str, value, fix: str = "") -> ParameterError:
    """The error for parameter ``name`` of ``owner`` (an object or a name).

    Examples
    --------
    >>> print(invalid("HOG", "orientations", "an int >= 1", 0))
    The 'orientations' parameter of HOG must be an int >= 1. Got 0.
    >>> print(invalid("f", "size", "a pair", 3, fix="Use (3, 3)."))
    The 'size' parameter of f must be a pair. Got 3. Use (3, 3).
    """
    return ParameterError(_owner_name(owner), name, allowed, value, fix)


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
    l2vision._validation.ParameterError: The 'orientations' parameter of HOG must be an int >= 1.
    Got True.
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
    l2vision._validation.ParameterError: The 'lam' parameter of make_pipeline must be a float > 0
    or None. Got 0.0.
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
    l2vision._validation.ParameterError: The 'method' parameter of LBP must be one of 'uniform',
    'nri_uniform'. Got 'ror'.
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
    l2vision._validation.ParameterError: The 'signed' parameter of HOG must be one of False,
    True. Got 1.
    """
    check_option(owner, name, value, (False, True))


def check_pair(owner, name: str, value, *, low: int = 1, optional: bool = False,
               fix: str = "") -> None:
    """A ``(width, height)`` tuple or list of two ints >= ``low``; None too when ``optional``.

    Examples
    --------
    >>> check_pair("ImageFeatures", "size", True, optional=True)
    Traceback (most recent call last):
    l2vision._validation.ParameterError: The 'size' parameter of ImageFeatures must be a (width,
    height) pair of ints
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
    l2vision._validation.ParameterError: The 'grid' parameter of LBP must be a non-empty tuple of
    ints >= 1,
    e.g. (1, 2). Got ().
    """
    ok = isinstance(value, (tuple, list)) and len(value) > 0 \
        and all(_is_int(v) and v >= 1 for v in value)
    if not ok:
        raise invalid(owner, name, f"a non-empty tuple of ints >= 1, e.g. {example}", value)


def _spec_value(spec: str, name: str, text: str, convert, allowed: str):
    try:
        return convert(text)
    except (TypeError, ValueError):
        raise invalid(f"feature spec {spec!r}", name, allowed, text) from None


def spec_int(spec: str, name: str, text: str, *, low: int | None = None,
             high: int | None = None, fix: str = "") -> int:
    """A feature-spec argument (``"64"`` in ``hog:64``) as an int within bounds.

    Examples
    --------
    >>> spec_int("hog:64", "SIZE", "64", low=16)
    64
    >>> spec_int("tiny:x", "SIZE", "x", low=1)
    Traceback (most recent call last):
    l2vision._validation.ParameterError: The 'SIZE' parameter of feature spec 'tiny:x' must be
    an int >= 1. Got 'x'.
    """
    bounds = _bounds(low, high)
    allowed = "an int" + (f" {bounds}" if bounds else "")
    value = _spec_value(spec, name, text, int, allowed)
    check_int(f"feature spec {spec!r}", name, value, low=low, high=high, fix=fix)
    return value


def spec_real(spec: str, name: str, text: str, *, low: float | None = None,
              high: float | None = None, low_open: bool = False) -> float:
    """A feature-spec argument as a finite float within bounds.

    Examples
    --------
    >>> spec_real("lbp:8:1.5", "RADIUS", "1.5", low=0, low_open=True)
    1.5
    """
    bounds = _bounds(low, high, low_open)
    allowed = "a float" + (f" {bounds}" if bounds else "")
    value = _spec_value(spec, name, text, float, allowed)
    check_real(f"feature spec {spec!r}", name, value, low=low, high=high, low_open=low_open)
    return value


def spec_option(spec: str, name: str, text: str, options) -> str:
    """A feature-spec argument that must be one of ``options``.

    Examples
    --------
    >>> spec_option("color:xyz", "SPACE", "xyz", ("hsv", "lab"))
    Traceback (most recent call last):
    l2vision._validation.ParameterError: The 'SPACE' parameter of feature spec 'color:xyz' must
    be one of 'hsv', 'lab'. Got 'xyz'.
    """
    check_option(f"feature spec {spec!r}", name, text, tuple(options))
    return text
