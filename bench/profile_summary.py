"""Summarise a py-spy folded-stack profile (``bench/gateway.py --profile DIR``): where the time goes.

    .venv/bin/python bench/profile_summary.py DIR/pay-emulator.folded [--top 25]

Prints the share of samples per category (a frame matching the category anywhere in the
stack; the first matching category wins, in the order below) and the functions with the most
inclusive samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# First match wins, so the specific ones come first.
CATEGORIES = (
    ("response signing", re.compile(r"\bsign \(emulator/signing\.py")),
    ("request verify", re.compile(r"\bverify \(emulator/signing\.py")),
    ("notification delivery", re.compile(r"emulator/notifications/service\.py")),
    ("due-work ticker", re.compile(r"\brun_due \(emulator/runtime\.py")),
    ("SQLite (C)", re.compile(r"\b(execute|commit|fetchone|fetchall) \(sqlite3|sqlite3/dbapi2|_sqlite3")),
    ("SQLAlchemy", re.compile(r"sqlalchemy/")),
    ("psycopg", re.compile(r"psycopg/")),
    ("pydantic validation", re.compile(r"pydantic")),
    ("JSON", re.compile(r"json/")),
    ("HTTP (uvicorn/httptools)", re.compile(r"uvicorn/|httptools")),
    ("asyncio / event loop", re.compile(r"asyncio/|uvloop")),
)


def summarise(path: Path, top: int) -> str:
    stacks: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    total = sum(stacks.values())
    if not total:
        return f"{path}: no samples"
    categories: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, n in stacks.items():
        frames = stack.split(";")
        name = next((label for label, rx in CATEGORIES if rx.search(stack)), "other")
        categories[name] += n
        for frame in set(frames):
            inclusive[re.sub(r":\d+\)$", ")", frame)] += n
    lines = [f"{path.name}: {total} samples"]
    lines += [f"  {100 * n / total:5.1f}%  {label}" for label, n in categories.most_common()]
    lines.append("  top functions (inclusive):")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.profiles:
        print(summarise(path, args.top))


if __name__ == "__main__":
    main()
