"""Benchmarks run with ``python -m benchmarks`` (``make bench``): each row compares a figure of ours with a
reference measured in the same run, on the same machine.

Add rows by dropping a module in this package with functions decorated by :func:`benchmark`; each gets
the number of runs and returns :class:`Row` objects. ``python -m benchmarks NAME ...`` runs only the
modules whose names are given.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

BenchmarkFunction = Callable[[int], list["Row"]]
REGISTRY: list[tuple[str, BenchmarkFunction]] = []


@dataclass(frozen=True)
class Row:
    figure: str
    """What we measured, e.g. ``verify_elmo, 2000 courses + 2 MB PDF``."""
    seconds: float
    """The figure's value: seconds, or a quantity in ``unit`` (e.g. MB) for rows that are not times."""
    reference: str
    """What we compare with, e.g. ``python-xmlsec decode+parse+verify``."""
    reference_seconds: float
    runs: int
    unit: str = "s"
    """``s`` (printed in ms) or the unit of a non-time figure such as ``MB``."""

    @property
    def ratio(self) -> float:
        return self.seconds / self.reference_seconds if self.reference_seconds else float("inf")


def benchmark(func: BenchmarkFunction) -> BenchmarkFunction:
    """Register ``func`` (called with the number of runs) under its module name."""
    REGISTRY.append((func.__module__.rpartition(".")[2], func))
    return func


def median_seconds(funcs: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median wall time of ``runs`` calls of each function, after one warm-up call each.

    The functions take turns (a, b, c, a, b, c, ...), so a figure and its reference see the same machine:
    on a shared VM whose speed drifts by tens of percent between minutes, timing one after the other
    would put the drift into the ratio.
    """
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for func in funcs.values():
        func()
    for _ in range(runs):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def format_table(rows: list[Row]) -> str:
    header = ("figure", "reference", "ratio", "median of N runs")
    lines = [
        (
            f"{row.figure}: {_value(row.seconds, row.unit)}",
            f"{row.reference}: {_value(row.reference_seconds, row.unit)}",
            f"{row.ratio:.2f}x",
            f"N={row.runs}",
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    render = [" | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) for cells in lines]
    rule = "-+-".join("-" * width for width in widths)
    title = " | ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([title, rule, *render])


def _value(value: float, unit: str) -> str:
    return f"{value * 1000:.1f} ms" if unit == "s" else f"{value:.1f} {unit}"
