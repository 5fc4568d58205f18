"""The `rcap` console command: parses arguments and calls the packages.

Each command group lives in its own module here and exposes ``register(subparsers)``;
a registered handler receives the parsed ``argparse.Namespace`` and returns an exit code.
Known errors (:class:`loadgen.errors.RcapError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from loadgen import __version__
from loadgen.errors import RcapError

# Command-group modules, imported lazily so `rcap up` does not pay for pandas.
GROUPS = ("topology", "bench", "compare", "model", "report", "failover")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        sys.stderr.write(f"rcap: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rcap", description="Redis capacity lab for Nuxeo deployments.")
    parser.add_argument("--version", action="version", version=f"rcap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for group in GROUPS:
        try:
            module = importlib.import_module(f"loadgen.cli.{group}")
        except ModuleNotFoundError as exc:
            if exc.name == f"loadgen.cli.{group}":
                continue  # group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except RcapError as exc:
        sys.stderr.write(f"rcap: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("rcap: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
