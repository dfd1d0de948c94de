"""benchmarks/render.py on a synthetic results folder: rows, staleness, --check, README markers.

Nothing here reads the real benchmarks/results files: every test builds its own
repository under tmp_path (measured files, results, a benchmark script, a README).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def render(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("render")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _record(name, *, date, targets, measures, hashes, dirty=False, backfilled=False):
    record = {"benchmark": name, "date": date, "commit": "abc1234" + "0" * 33, "dirty": dirty,
              "measures": measures, "measures_sha256": hashes,
              "machine": {"cores": 2, "memory_gib": 8.0, "processor": "x86_64",
                          "load_average_1min": 0.5},
              "versions": {"python": "3.11.7", "numpy": "2.4.6"},
              "command": f"python benchmarks/{name}.py --quick",
              "figures": {"images": 100, "seconds": 1.5},
              "targets": targets, "met": all(t["met"] for t in targets.values()), "notes": ""}
    if hashes is None:
        del record["measures_sha256"]
    if backfilled:
        record["measures_sha256_from"] = "git show abc1234:PATH, backfilled"
    return record


@pytest.fixture
def repo(tmp_path):
    """A repository: lib/a.py, lib/b.py, four results, a benchmark script, a README."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.py").write_text("A = 1\n")
    (tmp_path / "lib" / "b.py").write_text("B = 2\n")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "alpha.py").write_text('"""Alpha: how fast lib/a.py is."""\n')
    results = tmp_path / "benchmarks" / "results"
    results.mkdir()
    records = {
        "alpha": _record("alpha", date="2026-12-01T10:00:00+00:00",
                         targets={"speed": {"value": 2.0, "target": ">= 1x", "met": True}},
                         measures=["lib/a.py"], hashes={"lib/a.py": _sha("A = 1\n")}),
        "beta": _record("beta", date="2026-12-02T11:30:00+00:00",
                        targets={"accuracy": {"value": 0.5, "target": ">= 0.9", "met": False}},
                        measures=["lib/a.py", "lib/b.py"],
                        hashes={"lib/a.py": _sha("A = 1\n"), "lib/b.py": _sha("B = 1\n")}),
        "gamma": _record("gamma", date="2026-12-03", targets={}, measures=["lib/b.py"],
                         hashes={"lib/b.py": _sha("B = 2\n")}, dirty=True, backfilled=True),
        "delta": _record("delta", date="2026-12-04T09:00:00+00:00", targets={},
                         measures=["lib/a.py"], hashes=None),
    }
    records["gamma"]["machine"]["load_average_1min_start"] = 3.0
    for name, record in records.items():
        (results / f"{name}.json").write_text(json.dumps(record))
    (tmp_path / "README.md").write_text(
        "# demo\n\nintro\n\n<!-- results:begin -->\nhand-written\n<!-- results:end -->\n\nend\n")
    return tmp_path


def _argv(repo: Path, *extra: str) -> list[str]:
    return ["--results", str(repo / "benchmarks" / "results"), "--root", str(repo),
            "--page", str(repo / "docs" / "benchmarks.md"), "--readme", str(repo / "README.md"),
            *extra]


def _lines(repo: Path) -> list[str]:
    return (repo / "docs" / "benchmarks.md").read_text().splitlines()


def test_overview_rows_say_targets_met_and_whether_each_result_is_up_to_date(render, repo):
    assert render.main(_argv(repo)) == 0
    lines = _lines(repo)
    assert "| [alpha](#alpha) | speed 2 (target >= 1x) | 1/1 | 2026-12-01 | yes |" in lines
    assert ("| [beta](#beta) | accuracy 0.5 (target >= 0.9) | 0/1 | 2026-12-02 "
            "| no: 1 measured file changed since |") in lines
    assert ("| [delta](#delta) |  | none | 2026-12-04 | unknown: no hashes recorded |"
            in lines)
    assert ("| [gamma](#gamma) |  | none | 2026-12-03 "
            "| unknown: measured with uncommitted changes |") in lines


def test_sections_give_targets_staleness_machine_versions_and_command(render, repo):
    render.main(_argv(repo))
    lines = _lines(repo)
    assert "| speed | 2 | >= 1x | met |" in lines
    assert "| accuracy | 0.5 | >= 0.9 | missed |" in lines
    assert ("**Up to date?** Yes: the file it measures is unchanged since it ran "
            "(commit abc1234).") in lines
    assert ("**Up to date?** No: measured on commit abc1234; the code it measures changed "
            "since (files: lib/b.py).") in lines
    gamma = next(line for line in lines if "Up to date?** Unknown: measured on commit" in line)
    assert "with uncommitted changes to the code it measures" in gamma
    assert "the measured files are unchanged since that commit" in gamma
    assert "- Date: 2026-12-02 11:30 UTC; commit `abc1234`" in lines
    assert ("- Machine: 2 cores, 8.0 GiB memory, x86_64; load average (1 min) 0.5 when the "
            "results were written") in lines
    assert ("- Machine: 2 cores, 8.0 GiB memory, x86_64; load average (1 min) 3.0 at the "
            "start, 0.5 at the end") in lines
    assert "- Versions: python 3.11.7, numpy 2.4.6" in lines
    assert "- Regenerate: `python benchmarks/beta.py --quick`" in lines
    assert "Alpha: how fast lib/a.py is." in lines          # no spec: the script's docstring
    assert "| images | 100 |" in lines and "| seconds | 1.5 |" in lines


def test_a_changed_measured_file_makes_the_result_stale_without_git(render, repo):
    render.main(_argv(repo))
    (repo / "lib" / "a.py").write_text("A = 3\n")
    assert render.main(_argv(repo, "--check")) == 1
    render.main(_argv(repo))
    assert ("| [alpha](#alpha) | speed 2 (target >= 1x) | 1/1 | 2026-12-01 "
            "| no: 1 measured file changed since |") in _lines(repo)


def test_check_fails_after_a_hand_edit_and_passes_after_rendering(render, repo, capsys):
    assert render.main(_argv(repo, "--check")) == 1            # nothing rendered yet
    assert not (repo / "docs" / "benchmarks.md").exists()      # --check writes nothing
    render.main(_argv(repo))
    assert render.main(_argv(repo, "--check")) == 0
    page = repo / "docs" / "benchmarks.md"
    page.write_text(page.read_text().replace("| speed | 2 |", "| speed | 3 |"))
    capsys.readouterr()
    assert render.main(_argv(repo, "--check")) == 1
    err = capsys.readouterr().err
    assert f"{page} differs from what the results say" in err
    assert "-| speed | 3 | >= 1x | met |" in err and "+| speed | 2 | >= 1x | met |" in err
    render.main(_argv(repo))
    assert render.main(_argv(repo, "--check")) == 0


def test_readme_changes_only_between_the_markers(render, repo, monkeypatch):
    page_module = importlib.import_module("_page")
    keyfigures = importlib.import_module("_keyfigures")
    monkeypatch.setattr(page_module, "HEADLINES", (
        ("beta", keyfigures.Text("{n} images", {"n": (("images",), "int")})),
        ("missing", keyfigures.Text("never shown"))))
    render.main(_argv(repo))
    assert (repo / "README.md").read_text() == (
        "# demo\n\nintro\n\n<!-- results:begin -->\n"
        "- 100 images ([beta](docs/benchmarks.md#beta), 2026-12-02; the code has changed "
        "since).\n\nAll figures, their targets and how to regenerate them: "
        "[benchmarks](docs/benchmarks.md).\n<!-- results:end -->\n\nend\n")
    readme = repo / "README.md"
    readme.write_text(readme.read_text().replace("- 100 images", "- 101 images"))
    assert render.main(_argv(repo, "--check")) == 1


def test_a_readme_without_markers_is_left_alone(render, repo, capsys):
    readme = repo / "README.md"
    readme.write_text("# demo\n\nno markers\n")
    assert render.main(_argv(repo)) == 0
    assert readme.read_text() == "# demo\n\nno markers\n"
    assert (repo / "docs" / "benchmarks.md").exists()
    assert "no <!-- results:begin --> / <!-- results:end --> markers" in capsys.readouterr().err
    assert render.main(_argv(repo, "--check")) == 0


def test_broken_markers_or_results_exit_2_naming_the_file(render, repo, capsys):
    readme = repo / "README.md"
    readme.write_text("# demo\n<!-- results:begin -->\nno end\n")
    assert render.main(_argv(repo)) == 2
    assert str(readme) in capsys.readouterr().err
    (repo / "benchmarks" / "results" / "bad.json").write_text("{not json")
    assert render.main(_argv(repo)) == 2
    assert "bad.json: not a readable JSON results file" in capsys.readouterr().err


def test_write_results_records_the_hashes_of_the_measured_files(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    common = importlib.import_module("_common")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.py").write_text("A = 1\n")
    monkeypatch.setattr(common, "ROOT", tmp_path)
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "library_versions", lambda: {"python": "3"})
    path = common.write_results("demo", {"n": 1}, {}, measures=["lib/a.py", "lib/gone.py"])
    record = json.loads(path.read_text())
    assert record["measures_sha256"] == {"lib/a.py": _sha("A = 1\n"), "lib/gone.py": None}
    assert {"load_average_1min_start", "load_average_1min"} <= set(record["machine"])


def test_key_figure_paths_select_list_items_and_a_missing_figure_drops_its_line(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    keyfigures = importlib.import_module("_keyfigures")
    figures = {"rows": [{"pair": "a", "auroc": 0.5}, {"pair": "b", "auroc": 0.91234}]}
    text = keyfigures.Text("AUROC {v}", {"v": (("rows", {"pair": "b"}, "auroc"), "f3")})
    assert text.render(figures) == "AUROC 0.912"
    assert keyfigures.one(("rows", {"pair": "c"}, "auroc")).render(figures) is None
    assert keyfigures.one(("rows", 5, "auroc")).render(figures) is None
    assert keyfigures.fmt(0.8856, "pct") == "88.56%" and keyfigures.fmt(21877.4) == "21,877"
