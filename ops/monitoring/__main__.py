"""`python -m ops.monitoring check [--root DIR]` and `python -m ops.monitoring render`.

The nox session runs `check`; it prints one line per problem, each starting with the file, and
exits 1 (2 when promtool or amtool is missing), so CI fails naming what to fix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ops import toolchain
from ops.monitoring import checks, render
from ops.monitoring.layout import Layout


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.monitoring")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check every file under monitoring/")
    check.add_argument("--root", type=Path, help="a monitoring/ directory (default: the repo's)")
    commands.add_parser("render", help="rewrite dashboards/*.json and generated/")
    args = parser.parse_args(argv)

    if args.command == "render":
        for path in render.write_generated(Layout()):
            print(f"wrote {render.repo_relative(path)}")
        return 0

    layout = Layout(args.root.resolve()) if args.root else Layout()
    try:
        problems = checks.run_all(layout)
    except toolchain.ToolMissing as exc:
        print(f"monitoring check: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"ERROR {problem}", file=sys.stderr)
    if problems:
        print(
            f"monitoring check: {len(problems)} problem(s) in the files named above; fix them and "
            "run `python -m ops.monitoring check` again",
            file=sys.stderr,
        )
        return 1
    print(f"monitoring check: {render.repo_relative(layout.root)} is valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
