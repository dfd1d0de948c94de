"""What each benchmark measures and which of its figures the pages show.

``render.py`` reads ``benchmarks/results/NAME.json`` and looks NAME up in
:data:`SPECS` (exact name, then the longest matching prefix such as
``accuracy_``). A :class:`Text` is a sentence with fields taken from the
results file's ``figures``, each by a path of keys (``str``), list indices
(``int``) or selectors (a ``dict``: the first list item with those values).
A field that is missing drops its line instead of failing, so a results file
of another shape still renders (with fewer key figures). A benchmark with no
spec gets its top-level numbers and the first line of its script's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MISSING = object()


def lookup(data, path: tuple):
    """The value at ``path`` in ``data``, or :data:`MISSING`."""
    for key in path:
        if isinstance(key, dict):
            data = next((item for item in data if isinstance(item, dict)
                         and all(item.get(k) == v for k, v in key.items())), MISSING) \
                if isinstance(data, list) else MISSING
        elif isinstance(key, int):
            data = data[key] if isinstance(data, list) and -len(data) <= key < len(data) \
                else MISSING
        else:
            data = data.get(key, MISSING) if isinstance(data, dict) else MISSING
        if data is MISSING:
            return MISSING
    return data


def fmt(value, kind: str = "g") -> str:
    """One figure as text; ``kind`` says its unit and precision."""
    if kind == "len":
        return f"{len(value):,}"
    if kind == "text" or isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or kind == "bool":
        return "yes" if value else "no"
    formats = {
        "pct": lambda v: f"{100 * v:.2f}%", "pct1": lambda v: f"{100 * v:.1f}%",
        "x": lambda v: f"{v:.2f}x", "rate": lambda v: f"{v:,.0f} images/s",
        "int": lambda v: f"{round(v):,}", "s": lambda v: f"{v:,.0f} s" if v >= 100
        else f"{v:.1f} s", "ms": lambda v: f"{1e3 * v:.0f} ms", "min": lambda v: f"{v:.1f} min",
        **{f"f{n}": lambda v, n=n: f"{v:.{n}f}" for n in range(1, 5)},
        "mb": lambda v: f"{v:,.1f} MB", "mib": lambda v: f"{v:,.0f} MiB",
        "gb": lambda v: f"{v:,.1f} GB",
        "sci": lambda v: f"{v:.1e}",
    }
    if isinstance(value, int) and kind == "g":
        return f"{value:,}"
    return formats.get(kind, lambda v: f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}")(value)


@dataclass(frozen=True)
class Text:
    """A sentence whose ``{fields}`` are figures: ``{name: (path, kind)}``."""

    template: str
    fields: dict = field(default_factory=dict)

    def render(self, figures: dict) -> str | None:
        """The sentence, or None when one of its figures is missing."""
        values = {}
        for name, (path, kind) in self.fields.items():
            value = lookup(figures, path)
            if value is MISSING or value is None:
                return None
            values[name] = fmt(value, kind)
        return self.template.format(**values)


def one(path: tuple, kind: str = "g") -> Text:
    """A single figure."""
    return Text("{v}", {"v": (path, kind)})


@dataclass(frozen=True)
class Spec:
    """A benchmark's description, its key figures ``(label, Text)`` and its headline."""

    about: Text
    figures: tuple = ()
    headline: Text | None = None


def _accuracy(about: str) -> Spec:
    return Spec(Text(about, {"row": (("row",), "text")}), (
        ("test accuracy", one(("test_accuracy",), "pct")),
        ("accuracy on 20% of the training images held out",
         one(("held_out_accuracy",), "pct")),
        ("cross-validation accuracy (λ search)", one(("cv_accuracy",), "pct")),
        ("features", Text("{spec} ({n} features)", {"spec": (("features_spec",), "text"),
                                                     "n": (("n_features",), "int")})),
        ("images: training / held out", Text("{a} / {b}", {"a": (("n_train",), "int"),
                                                            "b": (("n_held_out",), "int")})),
        ("images in `val/`", one(("n_val",), "int")),
        ("λ chosen", one(("lambda",), "g")),
        ("`train` end to end", one(("train_seconds",), "s")),
        ("dictionaries + training features", one(("extract_train_minutes",), "min")),
        ("λ search", one(("search_minutes",), "min")),
        ("whole row", one(("minutes",), "min")),
        ("peak memory (largest process)", one(("peak_memory_gb",), "gb")),
    ), Text("{acc} test accuracy", {"acc": (("test_accuracy",), "pct")}))


_OOD = "mahalanobis r=64 (default)"


def _auroc(recipe: str, pair: str) -> Text:
    return one(("results", {"recipe": recipe, "pair": pair, "method": _OOD}, "auroc"), "f4")


_TRUST = ("cifar10", "ridge"), ("cifar10", "logreg"), ("clothing10", "logreg")

SPECS = {
    "accuracy_": _accuracy("Test accuracy of one row of `benchmarks/accuracy.py`: {row}."),
    "accuracy_clothing": _accuracy(
        "Accuracy of `l2vision train` with its defaults (`auto` chooses the features) on "
        "clothing10, 10 classes of clothing photos: trained on `train/`, tested on `val/`; "
        "and how long training takes end to end. Row: {row}."),
    "accuracy_digits": _accuracy(
        "Accuracy of `l2vision train` with its defaults on scikit-learn's digits (8x8 images "
        "of handwritten digits, 10 classes), 20% held out. Row: {row}."),
    "audit": Spec(Text(
        "The audit's algorithms on feature matrices: label errors planted in clothing10 (5% "
        "of the labels flipped, 3 seeds), planted copies, blurred and darkened photos, and "
        "CIFAR-10 test images that leak from the training set."), (
        ("label errors: precision among the top k (mean of 3 seeds)",
         one(("labels", "clothing10_mean", "self_confidence", "precision_at_k"), "f2")),
        ("label errors: recall in the top 2k",
         one(("labels", "clothing10_mean", "self_confidence", "recall_at_2k"), "f2")),
        ("planted copies found (photo features, cosine)",
         one(("duplicates", "photo", "summary", "all_cosine", "found_rate"), "pct1")),
        ("false duplicate pairs per image",
         one(("duplicates", "photo", "summary", "all_cosine", "false_pairs_per_image"), "f4")),
        ("blurred / darkened photos flagged", Text("{b} / {d}", {
            "b": (("quality", "blurred_flagged_blurry"), "pct1"),
            "d": (("quality", "darkened_flagged_dark"), "pct1")})),
        ("clean photos flagged", one(("quality", "clean_flagged_any"), "pct")),
        ("CIFAR-10 test images flagged as leaks (hog,color, perceptual hash)",
         one(("leaks", "hog,color", "phash", "test_flagged_fraction"), "pct")),
    ), Text("label errors P@k {p}, copies found {c}", {
        "p": (("labels", "clothing10_mean", "self_confidence", "precision_at_k"), "f2"),
        "c": (("duplicates", "photo", "summary", "all_cosine", "found_rate"), "pct1")})),
    "auto_choice": Spec(Text(
        "`auto` on photos: the candidate it picks by CV on the 80% split (as `train` does) "
        "against the best candidate on `val/`, each with the default model, on clothing10 "
        "and random subsets of its classes (no other photo set is reachable from this "
        "machine)."), tuple(
        (f"{name}: auto's pick / the best on val", Text("{c} {a} / {b} {v} (gap {g} points)", {
            "c": ((name, "chosen"), "text"), "a": ((name, "chosen_val_accuracy"), "pct1"),
            "b": ((name, "best"), "text"), "v": ((name, "best_val_accuracy"), "pct1"),
            "g": ((name, "gap_points"), "f2")}))
        for name in ("clothing10", *(f"clothing10[{k} classes, seed 0]" for k in (2, 3, 5, 7)))),
        Text("auto's pick {g} points from the best candidate on clothing10 val", {
            "g": (("clothing10", "gap_points"), "f2")})),
    "audit_command": Spec(Text(
        "`l2vision audit` end to end as a user runs it: clothing10 train with planted faults "
        "(5% of the labels flipped, copies, blurred and darkened photos), and CIFAR-10 train "
        "against test (leaks), with the audit's time next to `l2vision train`'s."), (
        ("label errors: precision among the top k",
         one(("planted", "labels", "precision_at_k"), "f2")),
        ("label errors: recall in the top 2k", one(("planted", "labels", "recall_at_2k"), "f2")),
        ("planted copies found", Text("{f} of {n}", {
            "f": (("planted", "duplicates", "copies_found"), "int"),
            "n": (("planted", "duplicates", "copies"), "int")})),
        ("false duplicate pairs", Text("{f} among {n} images", {
            "f": (("planted", "duplicates", "false_pairs"), "int"),
            "n": (("planted", "duplicates", "images"), "int")})),
        ("blurred / darkened photos flagged", Text("{b} / {d}", {
            "b": (("planted", "quality", "blurred_flagged_blurry"), "pct1"),
            "d": (("planted", "quality", "darkened_flagged_dark"), "pct1")})),
        ("audit of the planted set", one(("planted", "seconds"), "s")),
        ("CIFAR-10 test images leaking from train", Text("{n} ({s})", {
            "n": (("cifar", "audit", "leak_test_images"), "int"),
            "s": (("cifar", "audit", "leak_share"), "pct")})),
        ("CIFAR-10 audit / train time", Text("{a} / {t}: {r}", {
            "a": (("cifar", "audit", "seconds"), "s"), "t": (("cifar", "train", "seconds"), "s"),
            "r": (("cifar", "time_ratio_audit_over_train"), "x")})),
    ), Text("{f}/{n} copies found, label P@k {p}", {
        "f": (("planted", "duplicates", "copies_found"), "int"),
        "n": (("planted", "duplicates", "copies"), "int"),
        "p": (("planted", "labels", "precision_at_k"), "f2")})),
    "cnn": Spec(Text(
        "`CNNEmbedding` on {n} CIFAR-10 files, decoding included, against bare inference "
        "loops on blobs prepared beforehand: MobileNet V2 with ONNX Runtime, MobileNet V1 "
        "0.25 with OpenCV's dnn; and preprocessing alone.", {"n": (("n_images",), "int")}), (
        ("MobileNet V2: ours / bare ONNX Runtime", Text("{a} / {b} images/s: {r}", {
            "a": (("v2_images_per_s",), "f1"), "b": (("v2_bare_onnxruntime_images_per_s",), "f1"),
            "r": (("v2_ratio_vs_bare",), "x")})),
        ("MobileNet V1 0.25: ours / bare OpenCV dnn", Text("{a} / {b} images/s", {
            "a": (("v1_opencv_images_per_s",), "int"),
            "b": (("v1_bare_opencv_images_per_s",), "int")})),
        ("OpenCV driver overhead", one(("v1_opencv_overhead",), "pct1")),
        ("preprocessing alone (one thread)", one(("preprocessing_images_per_s",), "rate")),
    ), Text("MobileNet V2 at {r} a bare inference loop", {"r": (("v2_ratio_vs_bare",), "x")})),
    "distributed": Spec(Text(
        "Scoring and feature extraction on a Dask `LocalCluster` of 2 single-threaded "
        "workers against local `n_jobs=2`, on {n} CIFAR-10 files; outputs checked identical.",
        {"n": (("n_images",), "int")}), (
        ("scoring: cluster / local", Text("{c} / {l} images/s: {r}", {
            "c": (("images_per_s", "score cluster"), "int"),
            "l": (("images_per_s", "score local"), "int"),
            "r": (("score_cluster_vs_local",), "x")})),
        ("scoring: 2 workers / 1", one(("score_2_vs_1_worker",), "x")),
        ("extraction: cluster / local", Text("{c} / {l} images/s: {r}", {
            "c": (("images_per_s", "extract cluster"), "int"),
            "l": (("images_per_s", "extract local"), "int"),
            "r": (("extract_cluster_vs_local",), "x")})),
        ("outputs identical", one(("outputs_identical",), "bool")),
    ), Text("cluster scoring {r} local", {"r": (("score_cluster_vs_local",), "x")})),
    "extract_handcrafted": Spec(Text(
        "`ImageFeatures([HOG(), ColorHistogram()])` on {n} CIFAR-10 files against a "
        "hand-written `skimage.feature.hog` + NumPy HSV loop and against decoding alone.",
        {"n": (("n_images",), "int")}), (
        *((label, one(("images_per_s", key), "rate")) for label, key in (
            ("ours, n_jobs=2", "ImageFeatures([HOG(), ColorHistogram()]), n_jobs=2"),
            ("ours, n_jobs=1", "ImageFeatures([HOG(), ColorHistogram()]), n_jobs=1"),
            ("skimage + NumPy loop", "skimage.feature.hog + numpy HSV histogram loop "
             "(3000 images)"),
            ("decoding alone", "decode only (cv2.imread loop)"))),
        ("ours / skimage loop", one(("ratio_vs_skimage_loop",), "x")),
        ("ours / decoding alone", one(("ratio_vs_decode_only",), "x")),
    ), Text("{r} a hand-written skimage loop", {"r": (("ratio_vs_skimage_loop",), "x")})),
    "explain": Spec(Text(
        "Heatmap explanations on clothing10 val (photo recipe) and CIFAR-10 (`hog,color`): "
        "completeness (a heatmap sums to the class's score), the deletion check (masking "
        "the tiles with most evidence lowers the class's probability more than random "
        "tiles), the sanity check (maps change under randomized weights), and the time of "
        "explaining next to scoring."), tuple(
        (f"{name}: {label}", one((name, *path), kind))
        for name in ("clothing10", "cifar10") for label, path, kind in (
            ("deletion check success rate", ("deletion_mean", "success_rate"), "pct1"),
            ("deletion with occlusion maps (a reference)",
             ("deletion_occlusion_reference", "success_rate"), "pct1"),
            ("deletion, class-against-the-others map (tried)",
             ("deletion_against_the_others", "success_rate"), "pct1"),
            ("deletion, map spread by a Gaussian (tried)",
             ("deletion_gaussian_spread", "success_rate"), "pct1"),
            ("sanity: mean correlation under random weights",
             ("sanity", "mean_correlation"), "f3"),
            ("completeness: largest relative error",
             ("completeness_max_relative_error",), "sci"),
            ("explain / score time", ("speed", "ratio"), "x"))),
        Text("deletion check {c} (clothing10), {f} (CIFAR-10)", {
            "c": (("clothing10", "deletion_mean", "success_rate"), "pct1"),
            "f": (("cifar10", "deletion_mean", "success_rate"), "pct1")})),
    "fuzz_loader": Spec(Text(
        "The model loader under mutated and generated pickle streams (hypothesis), each "
        "loaded under a memory limit: only the documented outcomes may come out."), (
        ("streams", one(("streams",), "int")),
        ("loaded / ModelFileError / UntrustedModelError", Text("{a} / {b} / {c}", {
            "a": (("outcomes", "loaded"), "int"), "b": (("outcomes", "ModelFileError"), "int"),
            "c": (("outcomes", "UntrustedModelError"), "int")})),
        ("failures", one(("failures",), "len")),
        ("peak memory", one(("peak_rss_mib",), "mib")),
        ("rate", Text("{r} streams/s", {"r": (("streams_per_second",), "int")})),
    ), Text("{n} streams, {f} failures", {"n": (("streams",), "int"),
                                          "f": (("failures",), "len")})),
    "hog": Spec(Text(
        "l2vision's NumPy HOG (`hog_descriptors`, batches of 256) against OpenCV 4's "
        "`cv2.HOGDescriptor` image by image, in five configurations: speed (wall clock, "
        "medians of alternated rounds) and the largest difference."), tuple(
        (f"{name}: ours / OpenCV", Text("{o} / {c} images/s: {r}, max difference {d}", {
            "o": (("configs", {"config": name}, "ours_images_per_s"), "int"),
            "c": (("configs", {"config": name}, "opencv_images_per_s"), "int"),
            "r": (("configs", {"config": name}, "ratio"), "x"),
            "d": (("configs", {"config": name}, "max_abs_diff"), "sci")}))
        for name in ("default (32x32 gray, cell 4)", "hog:64 (64x64 gray, cell 8)",
                     "hog8 (64x64 color max, cell 8)", "hog4 (32x32 color max, cell 4)",
                     "hog6 (48x48 color max, cell 6, 12 signed bins)")),
        Text("default HOG at {r} OpenCV's speed", {"r": (("configs", 0, "ratio"), "x")})),
    "ood": Spec(Text(
        "Out-of-distribution detection (`OODDetector`, default method) on real features: "
        "AUROC of telling held-out in-distribution images from another data set (far) or "
        "from held-out classes (near), and what the detector costs in scoring."), (
        *((f"{recipe}: AUROC {pair}", _auroc(recipe, pair))
          for recipe in ("photo", "hog,color")
          for pair in ("clothing10 -> CIFAR-10", "CIFAR-10 -> clothing10",
                       "near: clothing10, 2 held-out classes",
                       "near: CIFAR-10, 4 held-out classes")),
        ("photo: scoring throughput with the detector", one(
            ("cost", "photo", "methods", _OOD, "throughput_ratio"), "x")),
        ("photo: detector state", one(("cost", "photo", "methods", _OOD, "state_mb"), "mb")),
    ), Text("AUROC {a} (photo, clothing10 vs CIFAR-10)", {
        "a": _auroc("photo", "clothing10 -> CIFAR-10").fields["v"]})),
    "photos": Spec(Text(
        "Scoring {n} photos of 12 megapixels with the photo recipe: JPEGs decoded at the "
        "scale the pipeline needs against a full decode then resize.",
        {"n": (("n_photos",), "int")}), (
        ("reduced / full decoding", Text("{a} / {b} images/s: {r}", {
            "a": (("images_per_s", "reduced"), "f1"), "b": (("images_per_s", "full"), "f1"),
            "r": (("ratio",), "x")})),
        ("same label both ways", one(("same_label_fraction",), "pct1")),
    ), Text("{r} faster with reduced decoding", {"r": (("ratio",), "x")})),
    "robustness_": Spec(Text(
        "Accuracy of `{f}` + ridge (trained on {n} CIFAR-10 images) on {t} test images under "
        "corruptions (noise, blur, brightness, contrast, saturation, JPEG, pixelation, "
        "rotation, crop, flip, occlusion) at severities 1-5; the λ study; and the time of a "
        "corruption pass.",
        {"f": (("features",), "text"), "n": (("n_train",), "int"), "t": (("n_test",), "int")}), (
        ("clean accuracy", one(("robustness", "clean_accuracy"), "pct")),
        ("mean accuracy under corruptions", one(("robustness", "mean_corruption_accuracy"), "pct")),
        ("relative robustness (corrupted / clean)",
         one(("robustness", "relative_robustness"), "f3")),
        ("by severity 1 / 2 / 3 / 4 / 5", Text("{a} / {b} / {c} / {d} / {e}", {
            k: (("robustness", "per_severity", str(i)), "pct1")
            for i, k in enumerate("abcde", 1)})),
        ("λ chosen (CV) / best under corruptions", Text("{a} / {b}", {
            "a": (("lambda",), "g"), "b": (("study", "summary", "best_corrupted_lambda"), "g")})),
        ("a corruption pass / `evaluate_images`",
         one(("pass_times", "corruption_pass_vs_evaluate_images"), "x")),
    ), Text("clean {c}, under corruptions {m}", {
        "c": (("robustness", "clean_accuracy"), "pct"),
        "m": (("robustness", "mean_corruption_accuracy"), "pct")})),
    "imbalance": Spec(Text(
        "Training sets made imbalanced on purpose (the second half of the classes cut to "
        "10% of their images) and a balanced test set: balanced accuracy without class "
        "weights, with `class_weight=\"balanced\"`, and with λ also chosen by balanced "
        "accuracy; means over {s} seeds.", {"s": (("seeds",), "int")}), tuple(
        (f"{data} {model}: balanced accuracy without / balanced / + λ by balanced accuracy",
         Text("{a} / {b} / {c}", {
             "a": ((data, "mean", f"{model}/none", "balanced_accuracy"), "pct1"),
             "b": ((data, "mean", f"{model}/balanced", "balanced_accuracy"), "pct1"),
             "c": ((data, "mean", f"{model}/balanced+balanced_accuracy",
                    "balanced_accuracy"), "pct1")}))
        for data in ("digits", "cifar10") for model in ("ridge", "logreg")),
        Text("balanced accuracy {a} -> {b} with balanced weights (CIFAR-10, ridge)", {
        "a": (("cifar10", "mean", "ridge/none", "balanced_accuracy"), "pct1"),
        "b": (("cifar10", "mean", "ridge/balanced", "balanced_accuracy"), "pct1")})),
    "score": Spec(Text(
        "`l2vision score` (crash-isolated) against `ImageFeatures` extraction alone on "
        "{n} CIFAR-10 files with a HOG + color ridge model, both whole processes (start-up "
        "included), at -j 1 and -j 2; and its peak memory on 10,000 and 100,000 files.",
        {"n": (("ratio_images",), "int")}), (
        *((f"-j {j}: scoring / extraction", Text("{s} / {e}: {r}", {
            "s": (("speed", f"j{j}", "score_images_per_s"), "rate"),
            "e": (("speed", f"j{j}", "extract_images_per_s"), "rate"),
            "r": (("speed", f"j{j}", "scoring_vs_extraction"), "x")})) for j in (1, 2)),
        ("scoring 100,000 files (-j 1)", one(("memory_runs", "100000", "images_per_s"),
                                             "rate")),
        ("peak memory (100,000 files)", one(("memory_runs", "100000", "peak_rss_mb"), "mb")),
        ("peak memory growth from 10,000 to 100,000", one(("peak_memory_growth_mb",), "mb")),
    ), Text("scoring {r} the extraction rate (-j 1)", {
        "r": (("speed", "j1", "scoring_vs_extraction"), "x")})),
    "startup": Spec(Text(
        "How long `l2vision --version`, `--help` and `import l2vision` take, next to "
        "`python -c 'import numpy'` (whole processes, medians)."), (
        *((cmd, one(("median_seconds", cmd), "ms")) for cmd in (
            "l2vision --version", "l2vision --help", "python -c 'import l2vision'",
            "python -c 'import numpy'")),
        ("`--version` / `import numpy`", one(("version_vs_import_numpy",), "x")),
    ), Text("`l2vision --version` {t}", {"t": (("median_seconds", "l2vision --version"), "ms")})),
    "trust": Spec(Text(
        "Calibration (temperature scaling), conformal prediction sets and the `unknown` "
        "detector on real images: CIFAR-10 with `hog,color` ({n} training images) and "
        "clothing10 with the defaults; and what the detector adds to the model file and to "
        "scoring time.", {"n": (("n_train",), "int")}), (
        *((f"{data} {model}: ECE before / after calibration", Text("{b} / {a}", {
            "b": ((data, model, "calibration", "before", "ece"), "f3"),
            "a": ((data, model, "calibration", "after", "ece"), "f3")})) for data, model in _TRUST),
        *((f"{data} {model}: coverage of 90% / 95% prediction sets", Text("{a} / {b}", {
            "a": ((data, model, "prediction_sets", "0.9", "coverage"), "f3"),
            "b": ((data, model, "prediction_sets", "0.95", "coverage"), "f3")}))
          for data, model in _TRUST),
        ("model file: added by the detector", Text("{b} bytes", {
            "b": (("model_file", "added_bytes"), "int")})),
        ("scoring with `--reject` / plain", one(("scoring", "reject", "ratio_to_plain"), "x")),
    ), Text("ECE {b} -> {a} (CIFAR-10, ridge)", {
        "b": (("cifar10", "ridge", "calibration", "before", "ece"), "f3"),
        "a": (("cifar10", "ridge", "calibration", "after", "ece"), "f3")})),
}

#: The README's headline figures: (results name, sentence); the first four present are shown.
HEADLINES = (
    ("accuracy_clothing", Text(
        "**{acc}** accuracy on clothing10 photos (10 classes, `val/`) with the defaults of "
        "`l2vision train` (`auto` chose `{spec}`)",
        {"acc": (("test_accuracy",), "pct"), "spec": (("features_spec",), "text")})),
    ("accuracy_cnn2", Text(
        "**{acc}** accuracy on the 10,000 CIFAR-10 test images with the photo recipe",
        {"acc": (("test_accuracy",), "pct")})),
    ("trust", Text(
        "Calibrated probabilities: expected calibration error {b} -> **{a}** on CIFAR-10 "
        "(`hog,color` + ridge); 90% prediction sets cover {c} of the test images",
        {"b": (("cifar10", "ridge", "calibration", "before", "ece"), "f3"),
         "a": (("cifar10", "ridge", "calibration", "after", "ece"), "f3"),
         "c": (("cifar10", "ridge", "prediction_sets", "0.9", "coverage"), "pct1")})),
    ("score", Text(
        "`l2vision score` runs at **{r}** the speed of feature extraction alone, crash "
        "isolation included ({s} on CIFAR-10 files, HOG + color, one job); its memory grows "
        "by {g} from 10,000 to 100,000 files",
        {"r": (("speed", "j1", "scoring_vs_extraction"), "x"),
         "s": (("memory_runs", "100000", "images_per_s"), "rate"),
         "g": (("peak_memory_growth_mb",), "mb")})),
    ("audit_command", Text(
        "`l2vision audit` finds **{f} of {n}** planted copies and ranks planted label errors "
        "with precision {p} among its top k",
        {"f": (("planted", "duplicates", "copies_found"), "int"),
         "n": (("planted", "duplicates", "copies"), "int"),
         "p": (("planted", "labels", "precision_at_k"), "f2")})),
)


def spec_for(name: str) -> Spec | None:
    """The spec of a benchmark: its own, else the longest matching prefix, else None."""
    if name in SPECS:
        return SPECS[name]
    prefixes = [key for key in SPECS if key.endswith("_") and name.startswith(key)]
    return SPECS[max(prefixes, key=len)] if prefixes else None
