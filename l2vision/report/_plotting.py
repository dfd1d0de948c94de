"""The one place matplotlib is set up for l2vision's figures (private to :mod:`l2vision.report`).

Figures are drawn with the non-interactive Agg backend (no display needed),
and every text that comes from the user's data (class names, file names)
goes through :func:`plain_text`, so that matplotlib never reads it as
mathtext: a class called ``$\\foo$`` is drawn as written instead of
crashing the report.
"""

from __future__ import annotations

import io
from pathlib import Path

from l2vision.io.writing import write_file

__all__ = ["plain_text", "pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plain_text(text) -> str:
    r"""``text`` with matplotlib's mathtext markers escaped (``$`` -> ``\$``).

    Examples
    --------
    >>> print(plain_text("$x$ cost"))
    \$x\$ cost
    """
    return str(text).replace("$", r"\$")


def save_figure(fig, path) -> Path:
    """Save ``fig`` as a PNG at ``path`` (replaced atomically, never written through a link)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    pyplot().close(fig)
    return write_file(path, buffer.getvalue())
