"""The `rcap` console command: parses arguments and calls the packages.

Each command group lives in its own module here and exposes ``register(subparsers)``;
a registered handler receives the parsed ``argparse.Namespace`` and returns an exit code.
Known errors (:class:`loadgen.errors.RcapError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from loadgen import __version__
from loadgen.errors import RcapError
from loadgen.redaction import redact_text

# Command-group modules, imported lazily so `rcap up` does not pay for pandas.
GROUPS = ("topology", "bench", "model", "report", "failover")


def _cli_number(integer: bool):
    def parse(text: str) -> float | int:
        from loadgen.validate import number  # noqa: PLC0415

        try:
            return number(text, "value", integer=integer)
        except RcapError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None
    parse.__name__ = "integer" if integer else "number"
    return parse


class _Parser(argparse.ArgumentParser):
    """One-line errors; every ``type=float``/``type=int`` option goes through ``loadgen.validate.number``
    (NaN, infinity and numbers above its bound are refused before any handler runs)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", float, _cli_number(False))
        self.register("type", int, _cli_number(True))

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


def _one_line(text: str, limit: int = 2000) -> str:
    """One line, no URL password, bounded length (a hostile value must not flood the terminal)."""
    text = redact_text(" ".join(str(text).split()))
    return text if len(text) <= limit else text[:limit] + " …"


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ARG001
    """Python warnings as one ``rcap: warning:`` line (no ``path:line`` and source line)."""
    return f"rcap: warning: {_one_line(str(message))}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _format_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except RcapError as exc:
        sys.stderr.write(f"rcap: error: {_one_line(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("rcap: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
