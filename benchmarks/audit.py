"""The audit's algorithms on real data: planted label errors, copies, bad images; CIFAR-10 leaks.

Run: ``python benchmarks/audit.py [--parts labels,duplicates,quality,leaks]
[--leak-features hog,color;photo]``. Prints the figures, asserts nothing, and
writes ``benchmarks/results/audit.json``; example leak pairs go to
``/tmp/audit_examples/``. Feature matrices are cached under
``/tmp/audit_features/`` (the "photo" features of the 60,000 CIFAR-10 images take
8-40 minutes on 2 cores, once).

- labels: clothing10 train (1,435 photos, "photo" features), 5% of the labels
  flipped to another class (3 seeds); out-of-fold probabilities of
  ``StandardScaler + LogisticRegression(C)``, C in {1e-4, 1e-3, 1e-2} chosen by
  out-of-fold accuracy on the noisy labels. Targets: precision among the top k
  (k = number flipped) >= 0.7, recall in the top 2k >= 0.85.
- duplicates: 20 copies of clothing10 photos (cropped 0-5% per side, resized
  0.5-2x, brightness x0.9-1.1, JPEG quality 50-90), planted 5 times (seeds
  100-104). Targets: >= 95% of the copies found, false pairs <= 1% of the images.
- quality: 50 blurred (Gaussian sigma 3) and 50 darkened (x0.2) copies among the
  1,435 photos. Targets: >= 90% of each flagged; clean photos flagged <= 1%.
- leaks: CIFAR-10 test vs train, the share of test images flagged (Barz &
  Denzler 2020 found 3.3% by hand), 200 planted 32x32 copies, time and memory.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
from _common import SHARED, target, write_results
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from l2vision import config_context
from l2vision.audit import (
    ISSUES,
    find_label_issues,
    flag_quality,
    image_stats,
    near_duplicates,
    perceptual_hash,
)
from l2vision.pipelines.build import make_features

CACHE = Path("/tmp/audit_features")
EXAMPLES = Path("/tmp/audit_examples")
CLOTHING = (SHARED / "data" / "clothing10" / "train").resolve()
CIFAR = (SHARED / "data" / "cifar10").resolve()
#: clothing10 photos that are one shot twice (checked by eye; labeled shorts and skirt).
KNOWN_DUPLICATES = [("shorts/6075b4a5-5b1a-4ce0-aea0-9dbfbca7c35c.jpg",
                     "skirt/637a56e4-7fa6-4f75-8859-0f8902461554.jpg")]
MEASURES = ["l2vision/audit/labels.py", "l2vision/audit/duplicates.py",
            "l2vision/audit/quality.py"]


def listing(root: Path) -> list[str]:
    """Image paths of a class-per-folder tree, classes and files sorted."""
    return [str(p) for d in sorted(root.iterdir()) for p in sorted(d.iterdir())]


def features(name: str | None, paths: list[str], spec: str) -> np.ndarray:
    """``make_features(spec)`` of the paths, cached by the paths' names and contents' sizes.

    ``name=None``: not cached (copies in a temporary folder).
    """
    key = hashlib.sha1("\n".join(f"{p}:{Path(p).stat().st_size}" for p in paths).encode())
    file = CACHE / f"{name}_{spec.replace(',', '+')}_{key.hexdigest()[:12]}.npy"
    if name is None or not file.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with config_context(n_jobs=2):
            matrix = make_features(spec).fit(paths).transform(paths)
        print(f"  {name or 'copies'} {spec}: {matrix.shape} in "
              f"{time.perf_counter() - start:.0f} s")
        if name is None:
            return matrix
        np.save(file, matrix)
    return np.load(file)


def phashes(name: str, paths: list[str]) -> np.ndarray:
    """Perceptual hashes of the images, cached like the features."""
    key = hashlib.sha1("\n".join(paths).encode()).hexdigest()[:12]
    file = CACHE / f"{name}_phash_{key}.npy"
    if not file.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(file, np.array([perceptual_hash(cv2.imread(p)) for p in paths]))
    return np.load(file)


def flip(y: np.ndarray, seed: int, fraction=0.05) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``fraction`` of them moved to another class, and which were."""
    rng = np.random.default_rng(seed)
    m, k = round(fraction * len(y)), y.max() + 1
    flipped = rng.choice(len(y), m, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, k, m)) % k
    return noisy, flipped


def label_figures(probs, noisy, y, flipped) -> dict:
    """Precision@k and recall@2k of both scores, and the flagged sets of each filter."""
    truth = np.zeros(len(y), bool)
    truth[flipped] = True
    m, out = len(flipped), {}
    for rank_by in ("self_confidence", "normalized_margin"):
        order = np.argsort(-find_label_issues(probs, noisy, rank_by=rank_by).score,
                           kind="stable")
        out[rank_by] = {"precision_at_k": truth[order[:m]].mean(),
                        "recall_at_2k": truth[order[:2 * m]].sum() / m}
    for filter_by in ("prune_by_noise_rate", "prune_by_class", "both"):
        issues = find_label_issues(probs, noisy, filter_by=filter_by)
        found = issues.is_issue & truth
        out[filter_by] = {"flagged": int(issues.is_issue.sum()),
                          "precision": truth[issues.is_issue].mean(),
                          "recall": found.sum() / m,
                          "suggested_right": (issues.suggested_label[found] == y[found]).mean()}
    return out


def labels_part() -> dict:
    paths = listing(CLOTHING)
    X = features("clothing10_train", paths, "photo")
    y = np.unique([Path(p).parent.name for p in paths], return_inverse=True)[1]
    runs = []
    for seed in range(3):
        noisy, flipped = flip(y, seed)
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        best = None
        for C in (1e-4, 1e-3, 1e-2):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
            probs = cross_val_predict(model, X, noisy, cv=folds, method="predict_proba",
                                      n_jobs=2)
            accuracy = (probs.argmax(1) == noisy).mean()
            if best is None or accuracy > best[1]:
                best = (C, accuracy, probs)
        runs.append({"seed": seed, "flipped": len(flipped), "C": best[0],
                     "oof_accuracy_noisy": best[1],
                     **label_figures(best[2], noisy, y, flipped)})
        print(f"  clothing10 seed {seed}: C={best[0]:g}, "
              f"p@k {runs[-1]['self_confidence']['precision_at_k']:.3f}, "
              f"r@2k {runs[-1]['self_confidence']['recall_at_2k']:.3f}")
    Xd, yd = load_digits(return_X_y=True)
    digits = []
    for seed in range(3):
        noisy, flipped = flip(yd, seed)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        probs = cross_val_predict(model, Xd, noisy, cv=5, method="predict_proba")
        digits.append({"seed": seed, **label_figures(probs, noisy, yd, flipped)})
    return {"clothing10": runs, "clothing10_mean": _means(runs), "digits": digits,
            "digits_mean": _means(digits)}


def _means(runs: list[dict]) -> dict:
    """Means over runs of every nested number."""
    return {key: {k: float(np.mean([r[key][k] for r in runs])) for k in runs[0][key]}
            for key, value in runs[0].items() if isinstance(value, dict)}


def make_copy(image: np.ndarray, rng) -> bytes:
    """A JPEG of the image cropped 0-5% per side, resized 0.5-2x, brightness x0.9-1.1."""
    h, w = image.shape[:2]
    top, bottom, left, right = (rng.uniform(0, 0.05, 4) * [h, h, w, w]).astype(int)
    image = image[top:h - bottom, left:w - right]
    f = rng.uniform(0.5, 2.0)
    image = cv2.resize(image, None, fx=f, fy=f,
                       interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    image = np.clip(image * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)
    quality = int(rng.integers(50, 91))
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def plant_copies(paths, sources, rng, folder: Path, suffix=".jpg") -> list[str]:
    """Write a copy of each source image into ``folder``; their paths."""
    out = []
    for k, i in enumerate(sources):
        out.append(str(folder / f"copy_{k:04d}{suffix}"))
        data = make_copy(cv2.imread(paths[i]), rng)
        if suffix == ".png":  # keep the JPEG damage of a 32x32 copy exactly, losslessly
            data = cv2.imencode(".png", cv2.imdecode(np.frombuffer(data, np.uint8), 1))[1]
        Path(out[-1]).write_bytes(bytes(data))
    return out


def pair_counts(pairs, n0: int, sources, known: set) -> tuple[int, list]:
    """Planted copies found, and the other pairs (copy k is row n0 + k)."""
    group = np.arange(n0 + len(sources))
    group[n0:] = sources
    for a, b in known:
        group[group == b] = a
    same = group[pairs.first] == group[pairs.second]
    found = {int(b) for a, b in zip(pairs.first[same], pairs.second[same], strict=True) if b >= n0}
    return len(found), [(int(a), int(b), float(s)) for a, b, s
                        in zip(pairs.first[~same], pairs.second[~same],
                                               pairs.similarity[~same], strict=True)]


def duplicates_part() -> dict:
    paths = listing(CLOTHING)
    known = {(paths.index(str(CLOTHING / a)), paths.index(str(CLOTHING / b)))
             for a, b in KNOWN_DUPLICATES}
    out = {}
    for spec in ("photo", "hog,color"):
        X0, H0 = features("clothing10_train", paths, spec), phashes("clothing10_train", paths)
        rows = []
        for seed in range(100, 105):
            rng = np.random.default_rng(seed)
            sources = rng.choice(len(paths), 20, replace=False)
            with tempfile.TemporaryDirectory() as folder:
                copies = plant_copies(paths, sources, rng, Path(folder))
                Xc = features(None, copies, spec)
                Hc = np.array([perceptual_hash(cv2.imread(p)) for p in copies])
            others = np.setdiff1d(np.arange(len(paths)), sources)
            small = np.sort(np.concatenate([sources, rng.choice(others, 280, replace=False)]))
            for name, keep in (("all", np.arange(len(paths))), ("300", small)):
                pos = {int(i): r for r, i in enumerate(keep)}
                kept = {(pos[a], pos[b]) for a, b in known if a in pos and b in pos}
                X, H = np.vstack([X0[keep], Xc]), np.concatenate([H0[keep], Hc])
                for hashes in (None, H):
                    pairs = near_duplicates(X, hashes=hashes)
                    found, others = pair_counts(pairs, len(keep),
                                                [pos[int(s)] for s in sources], kept)
                    rows.append({"seed": seed, "set": name, "images": len(X),
                                 "phash": hashes is not None, "found": found,
                                 "false_pairs": len(others), "false_pairs_list": others})
        summary = {}
        for name in ("all", "300"):
            for use in (False, True):
                sel = [r for r in rows if r["set"] == name and r["phash"] == use]
                summary[f"{name}_{'phash' if use else 'cosine'}"] = {
                    "found_rate": sum(r["found"] for r in sel) / (20 * len(sel)),
                    "false_pairs_mean": float(np.mean([r["false_pairs"] for r in sel])),
                    "false_pairs_per_image": float(np.mean(
                        [r["false_pairs"] / r["images"] for r in sel]))}
        out[spec] = {"summary": summary, "runs": rows}
        others = {(a, b) for r in rows if r["set"] == "all" for a, b, _ in r["false_pairs_list"]
                  if b < len(paths)}
        EXAMPLES.mkdir(exist_ok=True)
        for a, b in sorted(others):
            save_pair(EXAMPLES / f"clothing10_{spec.replace(',', '+')}_other_{a}_{b}.png",
                      paths[a], paths[b], height=160)
        print(f"  {spec}: " + ", ".join(f"{k} found {v['found_rate']:.3f} false "
                                        f"{v['false_pairs_mean']:.1f}"
                                        for k, v in summary.items()))
    return out


def quality_part() -> dict:
    paths = listing(CLOTHING)
    rng = np.random.default_rng(7)
    stats = [image_stats(cv2.imread(p)) for p in paths]
    picks = rng.choice(len(paths), 100, replace=False)
    for i in picks[:50]:
        stats.append(image_stats(cv2.GaussianBlur(cv2.imread(paths[i]), (0, 0), 3)))
    for i in picks[50:]:
        stats.append(image_stats((cv2.imread(paths[i]) * 0.2).astype(np.uint8)))
    issues = flag_quality(np.array(stats))
    n = len(paths)
    blurry, dark = ISSUES.index("blurry"), ISSUES.index("dark")
    clean = issues.is_issue[:n]
    cifar_paths = listing(CIFAR / "test")
    cifar_issues = flag_quality(np.array([image_stats(cv2.imread(p)) for p in cifar_paths]))
    cifar = cifar_issues.is_issue
    rows = []
    for j in range(len(ISSUES)):  # up to 12 images per issue, most flagged first
        worst = np.flatnonzero(cifar[:, j])[np.argsort(-cifar_issues.score[cifar[:, j], j])][:12]
        tiles = [cv2.resize(cv2.imread(cifar_paths[i]), (64, 64),
                            interpolation=cv2.INTER_NEAREST) for i in worst]
        rows.append(np.hstack(tiles + [np.full((64, 64, 3), 255, np.uint8)] * (12 - len(tiles))))
    EXAMPLES.mkdir(exist_ok=True)
    cv2.imwrite(str(EXAMPLES / "cifar10_test_quality_flags.png"), np.vstack(rows))
    return {"blurred_flagged_blurry": issues.is_issue[n:n + 50, blurry].mean(),
            "darkened_flagged_dark": issues.is_issue[n + 50:, dark].mean(),
            "clean_flagged_any": clean.any(1).mean(),
            "clean_flagged": dict(zip(ISSUES, clean.sum(0).tolist(), strict=True)),
            "cifar10_test_flagged_any": cifar.any(1).mean(),
            "cifar10_test_flagged": dict(zip(ISSUES, cifar.sum(0).tolist(), strict=True))}


def save_pair(path: Path, a: str, b: str, height=128) -> None:
    """Two images side by side at a common height (nearest-neighbour for thumbnails)."""
    ims = [cv2.imread(p) for p in (a, b)]
    ims = [cv2.resize(im, (round(im.shape[1] * height / im.shape[0]), height),
                      interpolation=cv2.INTER_NEAREST) for im in ims]
    gap = np.full((height, 6, 3), 255, np.uint8)
    cv2.imwrite(str(path), np.hstack([ims[0], gap, ims[1]]))


def leaks_part(specs: list[str]) -> dict:
    test, train = listing(CIFAR / "test"), listing(CIFAR / "train")
    Ht, Hr = phashes("cifar10_test", test), phashes("cifar10_train", train)
    rng = np.random.default_rng(5)
    sources = rng.choice(len(train), 200, replace=False)
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        copies = plant_copies(train, sources, rng, Path(folder), suffix=".png")
        Hc = np.array([perceptual_hash(cv2.imread(p)) for p in copies])
        for spec in specs:
            Xt, Xr = features("cifar10_test", test, spec), features("cifar10_train", train, spec)
            Xc = features(None, copies, spec)
            row = {}
            for use in (False, True):
                kw = {"hashes": np.concatenate([Ht, Hc]), "reference_hashes": Hr} if use else {}
                tracemalloc.start()
                start, cpu = time.perf_counter(), time.process_time()
                pairs = near_duplicates(np.vstack([Xt, Xc]), Xr, **kw)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                real = pairs.first < len(test)
                flagged = np.unique(pairs.first[real])
                hit = {int(f) - len(test) for f, s in zip(pairs.first[~real], pairs.second[~real],
                                                           strict=True)
                       if s == sources[f - len(test)]}
                row["phash" if use else "cosine"] = {
                    "test_flagged": len(flagged), "test_flagged_fraction": len(flagged) / len(test),
                    "planted_found_rate": len(hit) / len(sources), "seconds": seconds,
                    "cpu_seconds": cpu, "peak_mib": peak / 2**20}
                if use:
                    EXAMPLES.mkdir(exist_ok=True)
                    order = np.flatnonzero(real)
                    picks = list(order[:6]) + list(order[len(order) // 2:][:3]) + list(order[-3:])
                    for r, q in enumerate(picks):
                        name = (f"leak_{spec.replace(',', '+')}_{r:02d}_sim"
                                f"{pairs.similarity[q]:.3f}.png")
                        save_pair(EXAMPLES / name, test[pairs.first[q]], train[pairs.second[q]])
            start = time.perf_counter()
            within = near_duplicates(np.vstack([Xr, Xt]))
            row["near_duplicates_60000_seconds"] = time.perf_counter() - start
            row["near_duplicates_60000_pairs"] = len(within.first)
            out[spec] = row
            print(f"  {spec}: {row}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="labels,duplicates,quality,leaks")
    parser.add_argument("--leak-features", default="hog,color;photo",
                        help="feature specs for the CIFAR-10 leaks, separated by ';'")
    args = parser.parse_args()
    parts, figures, targets = args.parts.split(","), {}, {}
    if "labels" in parts:
        figures["labels"] = labels_part()
        mean = figures["labels"]["clothing10_mean"]["self_confidence"]
        targets["label_precision_at_k"] = target(mean["precision_at_k"], 0.7)
        targets["label_recall_at_2k"] = target(mean["recall_at_2k"], 0.85)
    if "duplicates" in parts:
        figures["duplicates"] = duplicates_part()
        best = figures["duplicates"]["photo"]["summary"]["all_cosine"]
        targets["copies_found"] = target(best["found_rate"], 0.95)
        targets["false_pairs_per_image"] = target(best["false_pairs_per_image"], 0.01,
                                                  at_least=False)
    if "quality" in parts:
        figures["quality"] = q = quality_part()
        print(f"  quality: {q}")
        targets["blurred_flagged"] = target(q["blurred_flagged_blurry"], 0.9)
        targets["darkened_flagged"] = target(q["darkened_flagged_dark"], 0.9)
        targets["clean_flagged"] = target(q["clean_flagged_any"], 0.01, at_least=False)
    if "leaks" in parts:
        figures["leaks"] = leaks_part(args.leak_features.split(";"))
        figures["leaks"]["barz_denzler_2020_fraction"] = 0.033
    path = write_results("audit", figures, targets, measures=MEASURES, notes=(
        "2 cores shared with other jobs (see load_average_1min): times are upper bounds. "
        "false pairs: reported pairs that are neither a planted copy and its source nor "
        "KNOWN_DUPLICATES; most are the same garment photographed twice."))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
