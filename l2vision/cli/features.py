"""``l2vision features``: the registered feature extractors (built-in and plugins)."""

from __future__ import annotations

import argparse

from l2vision.cli.options import EXIT_OK

HELP = """\
The feature extractors that --features accepts in 'l2vision train' and
'l2vision extract': the built-in ones and those of installed plugins (packages
declaring an entry point in the 'l2vision.features' group). A spec is NAME or
NAME:ARG:ARG, and specs are comma-separated: --features hog:64,color:lab,lbp.

Examples:
  l2vision features list
  l2vision train photos/ --features hog,color,cnn:mobilenet_v1_0.25:conv13+conv11
"""


def add_parser(subparsers, common) -> None:
    p = subparsers.add_parser("features", parents=[common],
                              help="list the feature extractors (built-in and plugins)",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="spec syntax, origin and description")
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    from l2vision.features.registry import AUTO, AUTO_DESCRIPTION, available

    entries = list(available().values())
    width = max(len(e.syntax) for e in entries)
    print(f"{AUTO:<{width}}  {AUTO_DESCRIPTION[0].upper() + AUTO_DESCRIPTION[1:]}.")
    for entry in entries:
        print(f"{entry.syntax:<{width}}  {entry.description}")
        if entry.origin != "built-in":
            print(f"{'':<{width}}  ({entry.origin})")
    return EXIT_OK
