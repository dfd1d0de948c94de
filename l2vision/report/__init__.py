"""Self-contained HTML reports and their figures.

- :mod:`~l2vision.report.html`: :func:`write_report`, the report of a
  training or evaluation run (metrics.json, figures, report.html);
- :mod:`~l2vision.report.plots`: the λ curve and the confusion matrix;
- :mod:`~l2vision.report.gallery`: thumbnails of confident mistakes and correct images;
- :mod:`~l2vision.report.robustness`: the robustness heat map and curves, the λ-study plot;
- :mod:`~l2vision.report._plotting`: the one place matplotlib is set up (private).
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "write_report": ".html",
    "plot_confusion_matrix": ".plots",
    "plot_lambda_curve": ".plots",
    "plot_study": ".robustness",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
