"""`python -m relval.simcloud --port N`: run the simulated cloud in the foreground."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .server import start_server


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m relval.simcloud",
                                     description="A simulated OpenStack on loopback.")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--boot-delay", type=float, default=1.0, help="seconds in BUILD")
    parser.add_argument("--delete-delay", type=float, default=1.0,
                        help="seconds a deleted server stays visible")
    parser.add_argument("--volume-delay", type=float, default=0.5,
                        help="seconds per volume status change")
    parser.add_argument("--seed", type=Path, help="YAML or JSON file of what exists already")
    parser.add_argument("--clouds-yaml", type=Path, help="write a clouds.yaml entry 'simcloud' here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        seed = yaml.safe_load(args.seed.read_text()) if args.seed else None
        sim = start_server(args.port, args.host, seed=seed, boot_delay=args.boot_delay,
                           delete_delay=args.delete_delay, volume_delay=args.volume_delay)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"simcloud: {error}", file=sys.stderr)
        return 2
    if args.clouds_yaml:
        sim.write_clouds_yaml(args.clouds_yaml)
    print(json.dumps({"url": sim.url, "env": sim.env()}), flush=True)
    try:
        sim._thread.join()
    except KeyboardInterrupt:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
