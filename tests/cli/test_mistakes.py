"""Every classic mistake on every command gets l2vision's own one-line answer.

One table, :data:`MISTAKES`: a new command adds its rows there. Each row runs
the command line in a folder prepared by :func:`workspace` and checks that
the answer is exit code 1 or 2 (never a traceback), one ``error:`` line on
stderr naming the offending file or flag, no raw message of a library, and
that nothing was written or changed in the folder.
"""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from l2vision.cli import main
from tests.conftest import write_image

#: Words of other libraries' own messages that must never reach the user.
RAW = ("Traceback", "KeyError", "IndexError", "EOFError", "UnpicklingError", "y_true",
       "At least one label", "numpy", "ndarray", "pickle exhausted", "at least one array",
       "n_samples", "NoneType", "object has no attribute", "unexpected error", "parameter of")


def _colors(root: Path, classes=("blue", "green", "red"), per_class: int = 6) -> Path:
    rng = np.random.default_rng(7)
    for channel, name in enumerate(classes):
        for i in range(per_class):
            image = rng.integers(0, 90, (20, 24, 3), dtype=np.uint8)
            image[:, :, channel % 3] += 150
            write_image(root / name / f"{i:02d}.png", image)
    return root


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A color-histogram ridge model of blue, green and red images."""
    root = tmp_path_factory.mktemp("model")
    data = _colors(root / "colors")
    model = root / "colors.joblib"
    assert main(["train", str(data), "--features", "color", "--model", "ridge", "--cv", "3",
                 "--test-size", "0", "-q", "-o", str(model), "--report",
                 str(root / "report")]) == 0
    return model


def workspace(folder: Path, model_file: Path) -> None:
    """The files the mistakes are made with, in ``folder`` (the test's current folder)."""
    _colors(folder / "data")
    _colors(folder / "one_class", classes=("blue",))
    _colors(folder / "foreign", classes=("ants", "bees"))
    flat = folder / "flat"
    flat.mkdir()
    for i in range(4):
        write_image(flat / f"{i}.png", np.zeros((8, 8, 3), np.uint8))
    lonely = _colors(folder / "lonely", classes=("blue", "green"))
    for f in sorted((lonely / "green").iterdir())[1:]:
        f.unlink()
    for name in ("a", "b"):
        (folder / "broken" / name).mkdir(parents=True)
        for i in range(4):
            (folder / "broken" / name / f"{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    paths = sorted((folder / "data").rglob("*.png"))
    (folder / "wrong_columns.csv").write_text(
        "file,cls\n" + "".join(f"{p},{p.parent.name}\n" for p in paths))
    (folder / "blank_label.csv").write_text(
        "path,label\n" + "".join(f"{p},{p.parent.name}\n" for p in paths) + f"{paths[0]},\n")
    (folder / "no_rows.csv").write_text("path,label\n\n\n")
    (folder / "repeated.csv").write_text(  # a blank row (skipped) and a repeated one
        "path,label\n" + "".join(f"{p},{p.parent.name}\n" for p in paths) + "\n"
        + f"{paths[3]},{paths[3].parent.name}\n")
    (folder / "colors.joblib").write_bytes(model_file.read_bytes())
    (folder / "text.joblib").write_text("this is a text file, not a model\n")
    (folder / "empty.joblib").write_bytes(b"")
    (folder / "truncated.joblib").write_bytes(model_file.read_bytes()[:2000])
    with open(folder / "sklearn.joblib", "wb") as f:
        pickle.dump(LogisticRegression(), f)
    (folder / "labels.csv").write_text("path,label\n")
    (folder / "taken.csv").write_text("keep me\n")
    (folder / "taken.joblib").write_text("keep me\n")
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)


# (command line, what the one error line must contain). {root}: the workspace.
MISTAKES = {
    # train
    "train: missing folder": ("train nope", "nope"),
    "train: one class": ("train one_class -q", "only one class ('blue')"),
    "train: a flat folder": ("train flat -q", "no class folders"),
    "train: manifest columns": ("train wrong_columns.csv -q", "'path'"),
    "train: manifest blank label": ("train blank_label.csv -q", "line"),
    "train: manifest without rows": ("train no_rows.csv -q", "no_rows.csv"),
    "train: manifest repeated row": ("train repeated.csv -q", "line 21"),
    "train: a class with one image": ("train lonely -q", "class 'green' has 1 image"),
    "train: every image unreadable": ("train broken -q", "broken"),
    "train: unknown feature": ("train data --features nope -q", "nope"),
    "train: bad --lambdas": ("train data --lambdas 5:1:x -q", "--lambdas"),
    "train: --test-size 1.5": ("train data --test-size 1.5 -q", "--test-size"),
    "train: --test-size -0.1": ("train data --test-size -0.1 -q", "--test-size"),
    "train: --cv 1": ("train data --cv 1 -q", "--cv"),
    "train: --cv 0": ("train data --cv 0 -q", "--cv"),
    "train: --n-jobs 0": ("train data --n-jobs 0 -q", "--n-jobs"),
    "train: --size 0x0": ("train data --size 0x0 -q", "--size"),
    "train: existing output": ("train data -o taken.joblib -q", "taken.joblib"),
    "train: output folder missing": ("train data -o nodir/m.joblib -q", "nodir"),
    "train: output folder not writable": ("train data -o locked/m.joblib -q", "locked"),
    "train: output folder is a file": ("train data -o taken.csv/m.joblib -q", "taken.csv"),
    # score
    "score: a CSV as the model": ("score taken.csv data", "taken.csv"),
    "score: a text file as the model": ("score text.joblib data", "text.joblib"),
    "score: an empty model file": ("score empty.joblib data", "empty.joblib"),
    "score: a truncated model": ("score truncated.joblib data", "truncated.joblib"),
    "score: a scikit-learn pickle": ("score sklearn.joblib data", "sklearn.joblib"),
    "score: missing model": ("score nope.joblib data", "nope.joblib"),
    "score: missing input": ("score colors.joblib nope.png", "nope.png"),
    "score: existing output": ("score colors.joblib data -o taken.csv", "taken.csv"),
    "score: output folder missing": ("score colors.joblib data -o nodir/p.csv", "nodir"),
    "score: output folder not writable": ("score colors.joblib data -o locked/p.csv", "locked"),
    "evaluate: output folder missing": ("evaluate colors.joblib data -o nodir/m.json -q",
                                        "nodir"),
    "extract: output folder missing": ("extract data -o nodir/f.npz -q", "nodir"),
    "robustness: output folder missing": ("robustness colors.joblib data -o nodir/r.json -q",
                                          "nodir"),
    "score: --top-k 0": ("score colors.joblib data --top-k 0", "--top-k"),
    "score: --batch-size 0": ("score colors.joblib data --batch-size 0", "--batch-size"),
    "score: --n-jobs 0": ("score colors.joblib data --n-jobs 0", "--n-jobs"),
    "score: --timeout -5": ("score colors.joblib data --timeout -5", "--timeout"),
    "score: --coverage 1.5": ("score colors.joblib data --coverage 1.5", "--coverage"),
    "score: --min-confidence 2": ("score colors.joblib data --reject --min-confidence 2",
                                  "--min-confidence"),
    "score: --explain-top without --explain": ("score colors.joblib data --explain-top 3",
                                               "--explain-top needs --explain"),
    "score: --explain-top 0": ("score colors.joblib data --explain why --explain-top 0",
                               "--explain-top"),
    "score: --explain a file": ("score colors.joblib data --explain taken.csv", "taken.csv"),
    "score: --explain folder missing": ("score colors.joblib data --explain nodir/why",
                                        "nodir"),
    # evaluate
    "evaluate: classes the model does not know": ("evaluate colors.joblib foreign -q",
                                                  "none of its classes ['ants', 'bees']"),
    "evaluate: a CSV as the model": ("evaluate taken.csv data -q", "taken.csv"),
    "evaluate: a scikit-learn pickle": ("evaluate sklearn.joblib data -q", "sklearn.joblib"),
    "evaluate: missing data": ("evaluate colors.joblib nope -q", "nope"),
    "evaluate: a flat folder": ("evaluate colors.joblib flat -q", "no class folders"),
    "evaluate: every image unreadable": ("evaluate colors.joblib broken -q", "broken"),
    "evaluate: existing output": ("evaluate colors.joblib data -o taken.csv -q", "taken.csv"),
    "evaluate: --coverage 0": ("evaluate colors.joblib data --coverage 0 -q", "--coverage"),
    # extract
    "extract: missing data": ("extract nope -o f.npz -q", "nope"),
    "extract: unknown feature": ("extract data --features nope -o f.npz -q", "nope"),
    "extract: existing output": ("extract data -o taken.csv -q", "taken.csv"),
    # robustness
    "robustness: classes the model does not know": ("robustness colors.joblib foreign -q",
                                                    "ants"),
    "robustness: unknown corruption": ("robustness colors.joblib data --corruptions nope -q",
                                       "nope"),
    "robustness: --severities 0-9": ("robustness colors.joblib data --severities 0-9 -q",
                                     "--severities"),
    "robustness: a text file as the model": ("robustness text.joblib data -q", "text.joblib"),
    # audit
    "audit: missing folder": ("audit nope -o a -q", "nope"),
    "audit: one class": ("audit one_class -o a -q", "only one class ('blue')"),
    "audit: a test set of other classes": ("audit data --test foreign -o a -q", "'ants'"),
    "audit: --cv 1": ("audit data --cv 1 -o a -q", "--cv"),
    "audit: output folder missing": ("audit data -o nodir/a -q", "nodir"),
    "train: --exclude of another file": ("train data --exclude taken.csv -o x.joblib -q",
                                        "taken.csv"),
    "train: --exclude-issues alone": ("train data --exclude-issues label -o x.joblib -q",
                                      "--exclude"),
    # explain
    "explain: a class the model does not know": (
        "explain colors.joblib data/blue/00.png -o why --class nope -q", "'nope'"),
    "explain: a text file as the model": ("explain text.joblib data -o why -q", "text.joblib"),
    "explain: output folder missing": ("explain colors.joblib data -o nodir/why -q", "nodir"),
    "explain: --top-k 0": ("explain colors.joblib data -o why --top-k 0 -q", "--top-k"),
    # every other numeric flag, out of range
    "train: --seed -1": ("train data --seed -1 -o x.joblib -q", "--seed"),
    "evaluate: --n-jobs 0": ("evaluate colors.joblib data --n-jobs 0 -q", "--n-jobs"),
    "evaluate: --timeout -1": ("evaluate colors.joblib data --timeout -1 -q", "--timeout"),
    "extract: --n-jobs 0": ("extract data -o f.npz --n-jobs 0 -q", "--n-jobs"),
    "extract: --size 0x5": ("extract data -o f.npz --size 0x5 -q", "--size"),
    "robustness: --n-jobs 0": ("robustness colors.joblib data --n-jobs 0 -q", "--n-jobs"),
    "robustness: --seed -1": ("robustness colors.joblib data --seed -1 -q", "--seed"),
    "study: --cv 1": ("study data --cv 1 -q", "--cv"),
    "study: --penalty-points 0": ("study data --penalty-points 0 -q", "--penalty-points"),
    "study: --test-size 1.5": ("study data --test-size 1.5 -q", "--test-size"),
    "study: --seed -1": ("study data --seed -1 -q", "--seed"),
    "audit: --n-jobs 0": ("audit data --n-jobs 0 -o a -q", "--n-jobs"),
    "audit: --seed -1": ("audit data --seed -1 -o a -q", "--seed"),
    "extract: --timeout -1": ("extract data -o f.npz --timeout -1 -q", "--timeout"),
    "study: --lambdas 1:0:x": ("study data --lambdas 1:0:x -q", "--lambdas"),
    "study: --n-jobs 0": ("study data --n-jobs 0 -q", "--n-jobs"),
    "study: --size 0x0": ("study data --size 0x0 -q", "--size"),
    "audit: --lambdas 1:0:x": ("audit data --lambdas 1:0:x -o a -q", "--lambdas"),
    "explain: --n-jobs (it runs in its own process)": (
        "explain colors.joblib data -o why --n-jobs 2 -q", "--n-jobs"),
    # study
    "study: unknown penalty": ("study data --penalties l3 -q", "l3"),
    "study: missing test data": ("study data --test nope -q", "nope"),
    "study: one class": ("study one_class -q", "only one class"),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_classic_mistake_gets_one_clear_line(case, model_file, tmp_path, capsys):
    workspace(tmp_path, model_file)
    if "not writable" in case and os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    argv, expected = MISTAKES[case]
    code = main(argv.split())
    out, err = capsys.readouterr()
    assert code in (1, 2), (code, out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("l2vision ") \
        and " error: " in err, err
    assert expected in err, err
    assert not any(word in err for word in RAW), err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, sorted(set(after) - set(before))
