"""Explanations: completeness, sanity, deletion, and the cost of explaining next to scoring.

Run: ``python benchmarks/explain.py``. Two sets:

- clothing10: the photo recipe (``l2vision train`` defaults: ``auto`` ->
  MobileNet V2 layers, pyramid-pooled, flip-averaged, logreg), trained on
  clothing10 train (cached in ``--cache``), explained on the 341 val photos;
- CIFAR-10: ``hog,color`` + logreg trained on ``--cifar-train`` training
  images (cached), explained on the first ``--cifar-test`` test images.

For each: completeness (the largest ``|heatmap sum - (score - baseline)|``,
relative to ``max(1, |score - baseline|)``), the deletion check of
:func:`l2vision.explain.checks.deletion_check` (mask the 20% of tiles of side
1/8 of the short side with the most evidence per pixel, filled with the
image's mean color, against 20% random tiles, 5 draws: the success rate is
how often the explained class's probability falls further), with the
heatmaps measured from the average training image (``baseline="mean"``, the
default) and from zero, and, as a reference, with occlusion maps (each tile
masked alone, ``--occlusion`` images: the counterfactual the test measures,
at one forward pass per tile) and with two variants of the heatmap that were
tried to close the gap to occlusion (``--variants``): the class against the
others (the explained class's map minus the probability-weighted mean of all
classes' maps, which sums to the change in log-probability to first order)
and the map spread by a Gaussian of 3% of the short side (the effective
receptive field's shape rather than bilinear cells), the sanity check of
:func:`~l2vision.explain.checks.sanity_check` (Spearman correlation with the
map under randomized weights, on ``--sanity`` images), and the time per
image of explaining (top class, heatmap at the image's size, no files)
next to scoring (features + probabilities), in this process, median of 3
alternating rounds. Prints, asserts nothing; writes
``benchmarks/results/explain.json``. Targets: deletion >= 80% on both
sets; sanity mean correlation < 0.5; completeness <= 1e-4; explaining <= 2x
scoring for the exact extractors (the photo recipe).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from _common import SHARED, cifar_paths, machine, median_times, target, write_results

from l2vision import config_context
from l2vision.datasets import ImageSet, load_image_folder
from l2vision.explain import iter_explanations
from l2vision.explain.checks import deletion_check, mask_tiles, sanity_check
from l2vision.pipelines import load, save
from l2vision.pipelines.build import class_scores, split_pipeline
from l2vision.workflows.train import train

MEASURES = ["l2vision/explain/__init__.py", "l2vision/explain/explain.py",
            "l2vision/explain/linear.py", "l2vision/explain/checks.py",
            "l2vision/features/locate.py", "l2vision/features/location.py",
            "l2vision/features/_cnn_locate.py", "l2vision/features/_hog_locate.py",
            "l2vision/features/_hog_compute.py", "l2vision/features/color.py",
            "l2vision/features/hog.py", "l2vision/features/cnn.py", "l2vision/features/_net.py"]


def cached_model(path: Path, fit):
    """The model saved at ``path``, or ``fit()`` saved there."""
    if path.exists():
        print(f"model: {path} (cached)", flush=True)
        return load(path, trusted=True)
    start = time.perf_counter()
    result = fit()
    path.parent.mkdir(parents=True, exist_ok=True)
    save(result.model, path, metadata=result.metadata)
    print(f"model: trained in {time.perf_counter() - start:.0f} s, saved to {path}", flush=True)
    return result.model


def completeness(model, images) -> tuple[float, int]:
    """The largest relative error of ``heatmap.sum()`` against ``score - baseline``."""
    worst, n = 0.0, 0
    for e in iter_explanations(model, images, top_k=2):
        for c in e.classes:
            target_value = c.score - c.baseline
            error = abs(float(c.heatmap.sum(dtype=np.float64)) - target_value)
            worst = max(worst, error / max(1.0, abs(target_value)))
            n += 1
    return worst, n


def speed(model, images) -> dict:
    """Seconds per image of scoring and of explaining the same images (median of 3)."""
    features, head = split_pipeline(model)

    def score():
        return class_scores(head, features.transform(images))

    def explain():
        return [e.classes[0].heatmap.shape for e in iter_explanations(model, images)]

    explain()  # warm: the session with the spatial outputs, the page cache
    score()
    seconds, _ = median_times({"score": score, "explain": explain}, 3)
    per = {name: s / len(images) for name, s in seconds.items()}
    return {"score_ms_per_image": 1000 * per["score"],
            "explain_ms_per_image": 1000 * per["explain"],
            "ratio": per["explain"] / per["score"], "n_images": len(images)}


def occlusion_ranking(model):
    """Tiles ranked by the class's probability lost when each alone is masked (a reference)."""
    features, head = split_pipeline(model)
    classes = [str(c) for c in model.classes_]

    def rank(explanation, boxes):
        image, k = explanation.image, classes.index(str(explanation.classes[0].label))
        copies = [image] + [mask_tiles(image, boxes, [t]) for t in range(len(boxes))]
        p = class_scores(head, features.transform(copies))[:, k]
        return p[0] - p[1:]

    return rank


def against_the_others_ranking(model):
    """Tiles ranked by the class's map minus the probability-weighted mean of every class's map."""
    n_classes = len(model.classes_)

    def rank(explanation, boxes):
        [e] = iter_explanations(model, [explanation.image], top_k=n_classes)
        k = [str(c.label) for c in e.classes].index(str(explanation.classes[0].label))
        maps = np.stack([c.heatmap for c in e.classes]).astype(np.float64)
        p = np.array([c.probability if c.probability is not None else 1 / n_classes
                      for c in e.classes])
        heat = maps[k] - np.tensordot(p / p.sum(), maps, 1)
        return [heat[b].mean() for b in boxes]

    return rank


def gaussian_spread_ranking(fraction: float = 0.03):
    """Tiles ranked by the heatmap blurred by a Gaussian of ``fraction`` of the short side."""
    def rank(explanation, boxes):
        heat = explanation.classes[0].heatmap.astype(np.float64)
        heat = cv2.GaussianBlur(heat, (0, 0), fraction * min(heat.shape),
                                borderType=cv2.BORDER_REFLECT)
        return [heat[b].mean() for b in boxes]

    return rank


def measure(name: str, model, images, args) -> dict:
    """Every figure of one set, printed as it comes."""
    figures = {"n_images": len(images)}
    worst, n = completeness(model, images[:args.sanity])
    figures["completeness_max_relative_error"] = worst
    print(f"{name}: completeness max relative error {worst:.2e} over {n} maps", flush=True)
    for baseline in ("mean", "zero"):
        start = time.perf_counter()
        result = deletion_check(model, images, baseline=baseline)
        result.pop("per_image")
        figures[f"deletion_{baseline}"] = result
        print(f"{name}: deletion (baseline {baseline}) success {result['success_rate']:.1%} "
              f"of {result['n_images']} images; mean drop top {result['mean_drop_top']:.3f}, "
              f"random {result['mean_drop_random']:.3f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    if args.occlusion:
        start = time.perf_counter()
        result = deletion_check(model, images[::max(1, len(images) // args.occlusion)],
                                ranking=occlusion_ranking(model))
        result.pop("per_image")
        figures["deletion_occlusion_reference"] = result
        print(f"{name}: deletion with occlusion maps (one tile masked at a time, a reference; "
              f"{result['n_images']} images): success {result['success_rate']:.1%} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    variants = {"against_the_others": against_the_others_ranking(model),
                "gaussian_spread": gaussian_spread_ranking()}
    for variant in filter(None, args.variants.split(",")):
        start = time.perf_counter()
        result = deletion_check(model, images, ranking=variants[variant])
        result.pop("per_image")
        figures[f"deletion_{variant}"] = result
        print(f"{name}: deletion with the {variant.replace('_', ' ')} map: success "
              f"{result['success_rate']:.1%} of {result['n_images']} images "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    sanity = sanity_check(model, images[:args.sanity])
    sanity.pop("per_image")
    figures["sanity"] = sanity
    print(f"{name}: sanity rank correlation with randomized weights: mean "
          f"{sanity['mean_correlation']:.3f}, median {sanity['median_correlation']:.3f}, "
          f"max {sanity['max_correlation']:.3f} ({sanity['n_images']} images)", flush=True)
    figures["speed"] = speed(model, images[:args.speed])
    s = figures["speed"]
    print(f"{name}: score {s['score_ms_per_image']:.1f} ms/image, explain "
          f"{s['explain_ms_per_image']:.1f} ms/image: {s['ratio']:.2f}x", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/l2vision-bench-cache"),
                        help="folder of the trained models (reused when present)")
    parser.add_argument("--cifar-train", type=int, default=10_000,
                        help="CIFAR-10 training images of the hog,color model")
    parser.add_argument("--cifar-test", type=int, default=500, help="CIFAR-10 test images")
    parser.add_argument("--sanity", type=int, default=100,
                        help="images of the sanity and completeness checks")
    parser.add_argument("--speed", type=int, default=64, help="images timed")
    parser.add_argument("--occlusion", type=int, default=60,
                        help="images of the occlusion reference (0: skip it)")
    parser.add_argument("--variants", default="against_the_others,gaussian_spread",
                        help="heatmap variants to run the deletion check on (comma-separated; "
                             "empty for none)")
    parser.add_argument("--sets", default="clothing,cifar", help="clothing and/or cifar")
    args = parser.parse_args()
    print(machine(), flush=True)
    sets = args.sets.split(",")
    figures, targets = {}, {}
    with config_context(n_jobs=1):
        if "clothing" in sets:
            model = cached_model(args.cache / "explain_clothing10_photo.joblib",
                                 lambda: train(SHARED / "data" / "clothing10" / "train",
                                               test_size=0))
            val = load_image_folder(SHARED / "data" / "clothing10" / "val")
            figures["clothing10"] = measure("clothing10", model, list(val.images), args)
        if "cifar" in sets:
            paths, labels = cifar_paths("train", args.cifar_train)
            model = cached_model(args.cache / f"explain_cifar_hog_color_{args.cifar_train}.joblib",
                                 lambda: train(ImageSet(paths, np.asarray(labels, dtype=object),
                                                        tuple(sorted(set(labels))),
                                                        "cifar10/train"),
                                               features="hog,color", test_size=0))
            test = cifar_paths("test", args.cifar_test)[0]
            figures["cifar10"] = measure("cifar10", model, test, args)
    for name, f in figures.items():
        targets[f"{name}_deletion"] = target(round(f["deletion_mean"]["success_rate"], 4), 0.8)
        targets[f"{name}_sanity"] = target(round(f["sanity"]["mean_correlation"], 4), 0.5,
                                           at_least=False)
        targets[f"{name}_completeness"] = target(f["completeness_max_relative_error"], 1e-4,
                                                 at_least=False)
    if "clothing10" in figures:
        targets["photo_explain_vs_score"] = target(
            round(figures["clothing10"]["speed"]["ratio"], 3), 2.0, at_least=False, unit="x")
    path = write_results("explain", figures, targets, measures=MEASURES,
                         notes="in-process, n_jobs=1, 2 inference threads; the hog,color "
                               "speed ratio has no target (HOG and square-rooted color "
                               "histograms are approximate)")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
