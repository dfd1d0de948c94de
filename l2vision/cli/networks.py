"""``l2vision networks``: the registry of frozen CNNs: list, info, fetch (``models``: old name)."""

from __future__ import annotations

import argparse
import os
import sys

from l2vision.cli.options import EXIT_OK

HELP = """\
The registry of pretrained networks (CNNs) usable as frozen feature extractors
(--features cnn:NETWORK in 'l2vision train'). Files are looked for among the
networks bundled with l2vision, in $L2VISION_MODEL_DIR, then in the cache
$L2VISION_HOME/models (default ~/.cache/l2vision/models); 'fetch' downloads
into the cache and checks sha256. ('l2vision models' is the old name of this
command, kept for one version.)

Examples:
  l2vision networks list
  l2vision networks info mobilenet_v1_0.25
  l2vision networks fetch NETWORK
  L2VISION_MODEL_DIR=/data/nets l2vision train photos/ --features hog,color,cnn:mobilenet_v1_0.25
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("networks", aliases=["models"], parents=[common],
                              help="list, describe and fetch the CNNs (networks)",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="name, size, dimension, cached or not")
    info = actions.add_parser("info", parents=[common], help="everything about one network")
    info.add_argument("name", metavar="NETWORK")
    fetch = actions.add_parser("fetch", parents=[common], help="download and verify a network")
    fetch.add_argument("name", metavar="NETWORK")
    p.set_defaults(run=run, parser=p)


def _location(spec) -> str:
    from l2vision.features.zoo import ModelNotFoundError, find_file

    try:
        return str(find_file(spec.files[0].name, model=spec.name))
    except ModelNotFoundError:
        return ""


def _spec(name):
    from l2vision.features.zoo import NETWORKS

    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[name]


def run(args) -> int:
    from l2vision.features.zoo import NETWORKS, fetch, model_dirs

    if args.command == "models":
        print("l2vision: warning: 'l2vision models' is now 'l2vision networks' (the old name "
              "goes in the next version)", file=sys.stderr)
    if args.action == "list":
        print(f"{'name':<24} {'size':>9} {'dim':>5}  {'input':>7}  location")
        for spec in NETWORKS.values():
            where = _location(spec) or "not on this machine"
            print(f"{spec.name:<24} {spec.size_bytes / 1e6:>7.1f}MB {spec.dim:>5}  "
                  f"{spec.input_size[0]}x{spec.input_size[1]:<3}  {where}")
        print(f"(searched: {os.pathsep.join(str(d) for d in model_dirs())})")
    elif args.action == "info":
        spec = _spec(args.name)
        for key in ("name", "input_size", "mean", "scale", "std", "swap_rb", "crop", "output",
                    "dim", "logits", "license", "source", "notes"):
            value = getattr(spec, key)
            if key == "output" and value is None:
                value = "the input of the last fully connected layer (found when loading)"
            print(f"{key + ':':<12} {value}")
        if spec.layers:
            print(f"{'layers:':<12} {', '.join(spec.layers)} (aliases for output=, e.g. "
                  f"CNNEmbedding({spec.name!r}, output=[{spec.output!r}, "
                  f"{list(spec.layers)[-3]!r}], pooling='pyramid'))")
        for f in spec.files:
            print(f"{'file:':<12} {f.name} ({f.size} bytes) sha256 {f.sha256}")
            print(f"{'url:':<12} {f.url or 'none (not publicly downloadable)'}")
        print(f"{'location:':<12} {_location(spec) or 'not on this machine'}")
    else:
        _spec(args.name)
        for path in fetch(args.name, progress=not args.quiet):
            print(f"{path} (sha256 verified)")
    return EXIT_OK
