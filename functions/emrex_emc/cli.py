"""``emrex-emc``: the one command-line entry point for people (support staff, operators, developers)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each command module exposes ``register(subparsers)`` and sets ``func`` on its parser.
_COMMAND_MODULES = (
    "emrex_emc.commands.verify",
    "emrex_emc.commands.registry",
    "emrex_emc.commands.local",
    "emrex_emc.commands.secret",
    "emrex_emc.commands.transfers",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emrex-emc", description="Reference EMREX client (EMC) tools.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
