"""Image sets from folders, CSV manifests and the built-in digits."""

from __future__ import annotations

import os

import numpy as np
import pytest

from l2vision.datasets import (
    DatasetError,
    SkippedFilesWarning,
    load_csv,
    load_dataset,
    load_digits_images,
    load_image_folder,
)
from tests.conftest import write_image


def test_folder_is_sorted_and_nested_files_count(make_folder, tmp_path):
    root = make_folder({"dog": 2, "cat": 3})
    write_image(root / "cat" / "sub" / "deep.png", np.zeros((4, 4), np.uint8))
    X, y = load_image_folder(root)
    assert load_image_folder(root).classes == ("cat", "dog")
    assert list(y) == ["cat"] * 4 + ["dog"] * 2
    rel = [str(p).split("images/")[1] for p in X]
    assert rel[:4] == ["cat/000.png", "cat/001.png", "cat/002.png", "cat/sub/deep.png"]
    assert X == sorted(X[:4]) + sorted(X[4:])


def test_folder_skips_hidden_and_non_images_with_a_count(make_folder):
    root = make_folder({"a": 1, "b": 1})
    (root / "a" / "notes.txt").write_text("x")
    (root / "a" / ".hidden.png").write_bytes(b"x")
    (root / "b" / ".cache").mkdir()
    write_image(root / "b" / ".cache" / "x.png", np.zeros((2, 2), np.uint8))
    (root / "readme.md").write_text("x")
    with pytest.warns(SkippedFilesWarning, match=r"skipped 3 file\(s\).*notes\.txt"):
        images = load_image_folder(root)
    assert images.n_images == 2


def test_folder_errors(tmp_path, make_folder):
    with pytest.raises(FileNotFoundError, match=r"missing: image folder not found"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "x.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DatasetError, match="no class folders"):
        load_image_folder(tmp_path / "flat")
    root = make_folder({"cat": 1})
    (root / "dog").mkdir()
    with pytest.raises(DatasetError, match=r"dog: class 'dog' has no image files"):
        load_image_folder(root)


def test_csv_resolves_relative_paths(tmp_path):
    (tmp_path / "m.csv").write_text("path,label\nimgs/a.png,cat\n/abs/b.png,dog\n")
    X, y = load_csv(tmp_path / "m.csv")
    assert X == [str(tmp_path / "imgs" / "a.png"), "/abs/b.png"] and list(y) == ["cat", "dog"]
    X, _ = load_csv(tmp_path / "m.csv", root="/data")
    assert X[0] == "/data/imgs/a.png"


def test_csv_custom_columns_and_unlabelled(tmp_path):
    (tmp_path / "m.csv").write_text("file,cls,extra\na.png,x,1\nb.png,y,2\n")
    images = load_csv(tmp_path / "m.csv", path_column="file", label_column="cls")
    assert images.classes == ("x", "y")
    unlabelled = load_csv(tmp_path / "m.csv", path_column="file", label_column=None)
    assert unlabelled.labels is None and unlabelled.n_images == 2


def test_csv_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match=r"empty\.csv: the manifest is empty"):
        load_csv(tmp_path / "empty.csv")
    (tmp_path / "cols.csv").write_text("file,label\na.png,x\n")
    with pytest.raises(DatasetError, match=r"no 'path' column; the columns are 'file', 'label'"):
        load_csv(tmp_path / "cols.csv")
    (tmp_path / "header.csv").write_text("path,label\n")
    with pytest.raises(DatasetError, match="header but no rows"):
        load_csv(tmp_path / "header.csv")
    (tmp_path / "nolabel.csv").write_text("path,label\na.png,x\nb.png, \n")
    with pytest.raises(DatasetError, match=r"nolabel\.csv, line 3: empty 'label'"):
        load_csv(tmp_path / "nolabel.csv")
    with pytest.raises(FileNotFoundError, match="manifest file not found"):
        load_csv(tmp_path / "none.csv")


def test_csv_skips_rows_without_a_path_like_scoring_does(tmp_path):
    # One rule for every manifest reader: a blank or missing path cell skips the row.
    (tmp_path / "hole.csv").write_text("path,label\na.png,x\n,y\n\n  ,z\nb.png,y\n")
    images = load_csv(tmp_path / "hole.csv")
    assert [os.path.basename(p) for p in images.images] == ["a.png", "b.png"]
    assert list(images.labels) == ["x", "y"] and len(images) == 2


def test_digits_are_real_uint8_images():
    digits = load_digits_images()
    X, y = digits
    assert len(X) == 1797 and X[0].shape == (8, 8) and X[0].dtype == np.uint8
    assert max(x.max() for x in X) == 255 and digits.classes == tuple("0123456789")
    assert sorted(set(y)) == list(digits.classes)


def test_load_dataset_dispatches(make_folder, tmp_path):
    assert load_dataset().source == "digits"
    root = make_folder({"a": 1, "b": 1})
    assert load_dataset(root).classes == ("a", "b")
    (tmp_path / "m.csv").write_text("path,label\nx.png,a\n")
    assert load_dataset(tmp_path / "m.csv").n_images == 1
    with pytest.raises(FileNotFoundError, match="data not found"):
        load_dataset(tmp_path / "nothing")


def test_subset_keeps_labels_aligned(make_folder):
    images = load_image_folder(make_folder({"a": 2, "b": 2}))
    sub = images.subset([3, 0])
    assert list(sub.labels) == ["b", "a"] and sub.images == [images.images[3], images.images[0]]
