"""Command line: `python -m kgpex.demo sheets ...` and `python -m kgpex.demo generate ...`."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from kgpex.common.errors import KgpexError
from kgpex.demo.cohort import write_sheets
from kgpex.demo.generator import generate
from kgpex.demo.spec import DemoSpec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kgpex.demo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sheets = sub.add_parser("sheets", help="write individuals.tsv and runs.tsv for a seed")
    sheets.add_argument("--seed", type=int, required=True)
    sheets.add_argument("--out", required=True, help="folder for the two sheets")
    gen = sub.add_parser("generate", help="generate the cohort's reference, VCFs, reads and tables")
    gen.add_argument("--seed", type=int, required=True)
    gen.add_argument("--individuals", required=True)
    gen.add_argument("--runs", required=True)
    gen.add_argument("--out", required=True, help="folder to generate into")
    gen.add_argument(
        "--read-pairs", type=int, default=DemoSpec.read_pairs, help="mean read pairs per library"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "sheets":
            for path in write_sheets(args.seed, args.out):
                print(path)
        else:
            spec = replace(DemoSpec(), read_pairs=args.read_pairs)
            paths = generate(args.seed, args.individuals, args.runs, args.out, spec)
            print(f"wrote {len(paths)} files under {args.out}")
    except KgpexError as err:
        print(f"kgpex: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
