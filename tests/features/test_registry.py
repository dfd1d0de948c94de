"""The extractor registry: built-in specs, and third-party plugins through entry points.

The plugin is a real package written to a temporary folder with a ``.dist-info``
folder beside it (what ``pip install`` leaves), put on ``sys.path``: Python's own
``importlib.metadata`` finds its entry point, in process and in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from l2vision.cli import main
from l2vision.features import HOG, LBP, CNNEmbedding, ColorHistogram, TinyImage
from l2vision.features.registry import (
    FeaturePluginError,
    FeaturePluginWarning,
    available,
    parse_features,
)
from l2vision.pipelines.persist import load

GABOR = '''
"""A Gabor filter bank extractor: the kind of package a user would publish."""
import cv2
import numpy as np
from l2vision.features import ImageExtractor


class Gabor(ImageExtractor):
    def __init__(self, orientations=4):
        self.orientations = orientations

    def _check_params(self):
        if not isinstance(self.orientations, int) or self.orientations < 1:
            raise ValueError("orientations must be an int >= 1")

    def _input_spec(self):
        return ((32, 32), "gray")

    def _n_features(self):
        return 2 * self.orientations

    def _feature_names(self):
        return [f"{s}{k}" for k in range(self.orientations) for s in ("mean", "std")]

    def _extract(self, images):
        out = np.empty((len(images), self._n_features()), np.float32)
        for i, image in enumerate(images):
            values = []
            for k in range(self.orientations):
                kernel = cv2.getGaborKernel((9, 9), 3.0, np.pi * k / self.orientations, 6.0, 0.5)
                response = cv2.filter2D(image.astype(np.float32) / 255, -1, kernel)
                values += [response.mean(), response.std()]
            out[i] = values
        return out


def make_gabor(orientations="4"):
    """Gabor filter bank: mean and std of the responses at ORIENTATIONS angles."""
    return Gabor(int(orientations))


def make_nothing():
    """Returns something that is not an extractor."""
    return 42
'''


def write_plugin(root, entry_points: str, package="gaborpkg", code=GABOR):
    """A package and its .dist-info (METADATA, entry_points.txt) under ``root``."""
    (root / package).mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text(code)
    info = root / f"{package}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[l2vision.features]\n" + textwrap.dedent(entry_points))
    return root


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    root = write_plugin(tmp_path / "site", "gabor = gaborpkg:make_gabor\n")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("gaborpkg")]:
        del sys.modules[name]


def test_builtin_specs_and_their_arguments():
    assert [type(e) for e in parse_features("hog,color,lbp,tiny")] == \
        [HOG, ColorHistogram, LBP, TinyImage]
    big = parse_features("hog:64")[0]
    assert big.size == (64, 64) and big.cell_size == (8, 8)
    assert parse_features("color:lab")[0].space == "lab"
    lbp = parse_features("lbp:16:2")[0]
    assert (lbp.points, lbp.radius) == (16, 2.0)
    assert parse_features("tiny:8")[0].size == (8, 8)
    (name, cnn), = parse_features("cnn")
    assert name == "cnn" and isinstance(cnn, CNNEmbedding) and cnn.model == "mobilenet_v1_0.25"
    assert len(parse_features("best")) == 8
    assert [e.syntax for e in available().values()] == [
        "hog[:SIZE]", "color[:SPACE]", "lbp[:POINTS[:RADIUS]]", "tiny[:SIZE]",
        "cnn[:NETWORK[:LAYER+LAYER]]", "photo", "best", "kmeans[:CLUSTERS[:ENCODING]]",
        "bovw[:CLUSTERS[:ENCODING]]"]
    (name, photo), = parse_features("photo")
    assert (photo.model, photo.output, photo.flip_average, photo.crop) == \
        ("mobilenet_v2_1.0", ["block12", "block13", "block16", "embedding"], True, 1.0)
    with pytest.raises(ValueError, match="Feature 'auto' chooses the features from the training"):
        parse_features("hog,auto")


@pytest.mark.parametrize("spec,message", [
    ("sift", "Unknown feature 'sift'; choose from hog, color, lbp, tiny, cnn, photo, best"),
    ("hog:1:2", "Feature spec 'hog:1:2': hog takes hog[:SIZE] (2 argument(s) given)."),
    ("hog:30", "The 'SIZE' parameter of feature spec 'hog:30' must be a multiple of 8 of at "
               "least 16 (an 8x8 grid of cells, e.g. hog:64). Got '30'."),
    ("hog:8", "The 'SIZE' parameter of feature spec 'hog:8' must be an int >= 16. Got 8."),
    ("hog:big", "The 'SIZE' parameter of feature spec 'hog:big' must be an int >= 16. Got 'big'."),
    ("color:xyz", "The 'SPACE' parameter of feature spec 'color:xyz' must be one of 'hsv', 'lab', "
                  "'rgb'. Got 'xyz'."),
    ("lbp:8:-1",
     "The 'RADIUS' parameter of feature spec 'lbp:8:-1' must be a float > 0. Got -1.0."),
    ("tiny:0", "The 'SIZE' parameter of feature spec 'tiny:0' must be an int >= 1. Got 0."),
    ("best:1", "best takes best (1 argument(s) given)"),
    ("", "No features given; choose from hog, color"),
])
def test_bad_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        parse_features(spec)


def test_a_plugin_is_listed_and_trains_through_the_cli(plugin, color_folder, tmp_path, capsys):
    assert main(["features", "list"]) == 0
    out = capsys.readouterr().out
    assert __import__("re").search(r"\ngabor\[:ORIENTATIONS\] +Gabor filter bank: mean and std "
                                   "of the responses", out)
    assert "(plugin gaborpkg 1.0 (gaborpkg:make_gabor))" in out and out.startswith("auto ")

    model = tmp_path / "m.joblib"
    code = main(["train", str(color_folder), "--features", "hog,gabor:3", "-m", "ridge",
                 "--cv", "3", "--test-size", "0.25", "-o", str(model), "-q"])
    out = capsys.readouterr().out
    assert code == 0 and "features: hog,gabor:3; 1770 per image" in out
    pipe = load(model)
    names = [name for name, _ in pipe[0]._named()]
    assert names == ["hog", "gabor"] and pipe[0].extractors[1].orientations == 3
    assert pipe.predict([str(color_folder / "red" / "00.png")]).tolist() == ["red"]


def test_a_plugin_works_in_a_fresh_process(plugin, color_folder, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), *sys.path]),
           "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "l2vision", "extract", str(color_folder),
                           "--features", "gabor:2,color", "-o", str(tmp_path / "f.npz"), "-q"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    X = np.load(tmp_path / "f.npz")["X"]
    assert X.shape == (36, 4 + 640)


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path, monkeypatch):
    root = write_plugin(tmp_path / "site", "broken = brokenpkg:make\n", package="brokenpkg",
                        code="raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(root))
    with pytest.warns(FeaturePluginWarning, match=r"plugin 'broken' from brokenpkg 1\.0 "
                                                  r"\(brokenpkg:make\) could not be loaded "
                                                  r"and is skipped: ImportError: needs libfoo"):
        entries = available()
    assert "broken" not in entries and "hog" in entries


def test_a_plugin_named_like_a_builtin_is_an_error_naming_both(tmp_path, monkeypatch):
    root = write_plugin(tmp_path / "site", "hog = gaborpkg:make_gabor\n")
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(FeaturePluginError, match=r"Feature name 'hog' is claimed twice: by the "
                                                 r"plugin gaborpkg 1\.0 \(gaborpkg:make_gabor\) "
                                                 r"and by the built-in extractor"):
        parse_features("hog")


def test_a_plugin_must_return_extractors(tmp_path, monkeypatch):
    root = write_plugin(tmp_path / "site", "nothing = gaborpkg:make_nothing\n")
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(ValueError, match=r"'nothing': the plugin gaborpkg 1\.0 "
                                         r"\(gaborpkg:make_nothing\) factory returned 42, not an "
                                         "l2vision extractor"):
        parse_features("nothing")
