"""Is a result older than the code it measures? Decided from file hashes, not git history.

``write_results`` records the sha256 of every file in ``measures`` when the
benchmark runs (``measures_sha256``); here they are compared with today's
files, so a clone without history (CI) gives the same answer. Results that
predate the hashes had them backfilled from ``git show COMMIT:PATH``
(``measures_sha256_from`` says so); when such a run's working tree had
uncommitted changes (``dirty``), the commit's files are not what was measured
and the result is reported as unverifiable rather than up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from _common import file_sha256


@dataclass(frozen=True)
class Freshness:
    """``state``: "fresh", "stale", "unverified" or "unknown"; ``changed``: files; ``text``."""

    state: str
    changed: tuple
    text: str

    @property
    def short(self) -> str:
        """The overview's cell."""
        n = len(self.changed)
        files = f"{n} measured file{'s' if n != 1 else ''} changed since"
        return {"fresh": "yes",
                "stale": f"no: {files}",
                "unverified": "unknown: measured with uncommitted changes"
                + (f"; {files}" if n else ""),
                "unknown": "unknown: no hashes recorded"}[self.state]


def freshness(record: dict, root: Path) -> Freshness:
    """Compare the hashes recorded in ``record`` with the files under ``root`` today."""
    commit = (record.get("commit") or "")[:7] or "(not recorded)"
    measures = record.get("measures") or []
    recorded = record.get("measures_sha256")
    if not measures or not isinstance(recorded, dict):
        what = ("does not say which code it measures" if not measures
                else "has no hashes of the files it measures")
        return Freshness("unknown", (), f"Unknown: the results file {what}; re-run the "
                         "benchmark to record them.")
    changed = tuple(path for path in measures
                    if file_sha256(root / path) != recorded.get(path))
    listed = f" (files: {', '.join(changed)})" if changed else ""
    if record.get("measures_sha256_from") and record.get("dirty") is not False:
        how = ("with uncommitted changes to the code it measures" if record.get("dirty")
               else "without a record of uncommitted changes")
        since = (f"the measured files changed since that commit{listed}" if changed
                 else "the measured files are unchanged since that commit")
        return Freshness("unverified", changed, f"Unknown: measured on commit {commit} {how}, "
                         f"so whether it matches today's code cannot be checked; {since}. "
                         "Re-run the benchmark to settle it.")
    if changed:
        return Freshness("stale", changed, f"No: measured on commit {commit}; the code it "
                         f"measures changed since{listed}.")
    n = len(measures)
    return Freshness("fresh", (), f"Yes: the {'file' if n == 1 else f'{n} files'} it measures "
                     f"{'is' if n == 1 else 'are'} unchanged since it ran (commit {commit}).")
