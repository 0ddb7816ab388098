"""``python -m benchmarks [--quick] [MODULE ...]``: run the registered benchmarks and print one table."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import benchmarks
from benchmarks import REGISTRY, Row, format_table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=benchmarks.__doc__)
    parser.add_argument("modules", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test, not a measurement)")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 9, 3 with --quick)")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 9)
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("_") and (not args.modules or info.name in args.modules):
            importlib.import_module(f"benchmarks.{info.name}")
    rows: list[Row] = []
    for name, func in REGISTRY:
        if not args.modules or name in args.modules:
            rows.extend(func(runs))
    if not rows:
        print("no benchmarks selected", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
