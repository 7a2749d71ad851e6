"""`python -m relval.autoscaler --config FILE`: the daemon without the full relval CLI.

The head node runs this from a self-contained bundle (see `bundle.py`), which holds
only the scaler and what it imports.
"""

from __future__ import annotations

import argparse
import logging
import sys

from relval.errors import RelvalError

from .daemon import run_from_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relval-autoscaler",
                                     description="relval elastic scaler daemon")
    parser.add_argument("--config", required=True, help="the daemon's config file (YAML)")
    parser.add_argument("--dry-run", action="store_true", help="log decisions, change nothing")
    parser.add_argument("--once", action="store_true", help="run one cycle and exit")
    parser.add_argument("--verbose", action="store_true", help="log debug details")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        run_from_file(args.config, dry_run=args.dry_run, once=args.once)
    except RelvalError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
