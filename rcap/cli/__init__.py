"""The `rcap` console command: parses arguments and calls the packages.

Each command group lives in its own module here and exposes ``register(subparsers)``;
a registered handler receives the parsed ``argparse.Namespace`` and returns an exit code.
Known errors (:class:`rcapcore.errors.RcapError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from loadgen import DISTRIBUTION, __version__
from rcapcore.errors import RcapError
from rcapcore.redaction import redact_text

# Command-group modules, imported lazily so `rcap up` does not pay for pandas.
GROUPS = ("topology", "bench", "compare", "model", "report", "failover")

# The report extra: a worker (`pip install rcap-nuxeo-redis[loadgen]`) runs without it.
REPORT_STACK = frozenset(("pandas", "scipy", "matplotlib", "papermill", "nbclient", "nbconvert", "nbformat",
                          "ipykernel", "weasyprint"))

EXIT_CODES = (
    (0, "success"),
    (1, "a run started but failed (Locust or the experiment); its directory, printed last, keeps what was recorded"),
    (2, "bad input, unusable target or topology (one line on stderr; nothing was started or recorded)"),
    (3, "a run is recorded 'degraded': more than --max-error-ratio of its requests failed (causes on stderr)"),
    (130, "interrupted (Ctrl-C or SIGTERM); the partial run is recorded with status 'interrupted'"),
)

# One example per command, shown under its --help (commands are documented in README.md).
EXAMPLES = {
    "up": "rcap up sentinel --maxmemory 256mb",
    "check": "rcap check redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster --password-file pw",
    "bench": "rcap bench workmanager --topology sentinel --duration 2m\n  "
             "rcap bench kv --target rediss://redis.example:6380 --password-file pw --rate 2000 --repeat 3",
    "sweep": "rcap sweep kv-set-1k --users 1,2,4,8,16,32\n  rcap sweep workmanager --rates 100,200,400,800 --duration 30s",
    "failover": "rcap failover --topology sentinel --fault kill --at 10s --duration 40s --repeat 3",
    "restart-test": "rcap restart-test --persistence none,rdb,aof --works 5000 --stop kill",
    "memory-wall": "rcap memory-wall --maxmemory 64mb --rate 2000 --consume-rate 0",
    "show": "rcap show data/runs/RUN_ID --hlog /tmp/hlog",
    "compare": "rcap compare data/runs/RUN_A data/runs/RUN_B",
    "size": "rcap size data/targets/example.yaml --runs data/reference --json",
    "report": "rcap report --target-load data/targets/example.yaml",
    "suite": "rcap suite --target-load data/targets/example.yaml",
    "completion": "rcap completion bash > /etc/bash_completion.d/rcap",
}


def _cli_number(integer: bool):
    def parse(text: str) -> float | int:
        from rcapcore.validate import number  # noqa: PLC0415

        try:
            return number(text, "value", integer=integer)
        except RcapError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None
    parse.__name__ = "integer" if integer else "number"
    return parse


class _Parser(argparse.ArgumentParser):
    """One-line errors; every ``type=float``/``type=int`` option goes through ``rcapcore.validate.number``
    (NaN, infinity and numbers above its bound are refused before any handler runs)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", float, _cli_number(False))
        self.register("type", int, _cli_number(True))

    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        sys.stderr.write(f"rcap: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES)
    parser = _Parser(prog="rcap", description="Redis capacity lab for Nuxeo deployments.",
                     epilog=f"exit codes:\n{codes}\n\nrcap COMMAND --help shows a command's options and an example.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rcap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for group in GROUPS:
        try:
            module = importlib.import_module(f"rcap.cli.{group}")
        except ModuleNotFoundError as exc:
            if exc.name == f"rcap.cli.{group}":
                continue  # group not built yet
            raise
        module.register(sub)
    _completion(sub)
    for name, cmd in sub.choices.items():
        if cmd.description is None:  # the one-line help doubles as the description
            cmd.description = next((a.help for a in sub._choices_actions if a.dest == name), None)
        if name in EXAMPLES:
            cmd.epilog = (cmd.epilog + "\n\n" if cmd.epilog else "") + f"example:\n  {EXAMPLES[name]}"
            cmd.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _one_line(text: str, limit: int = 2000) -> str:
    """One line, no URL password, bounded length (a hostile value must not flood the terminal)."""
    text = redact_text(" ".join(str(text).split()))
    return text if len(text) <= limit else text[:limit] + " …"


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ARG001
    """Python warnings as one ``rcap: warning:`` line (no ``path:line`` and source line)."""
    return f"rcap: warning: {_one_line(str(message))}\n"


def _completion(sub: argparse._SubParsersAction) -> None:
    comp = sub.add_parser("completion", help="print a shell completion script (bash, zsh or tcsh)")
    comp.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    comp.set_defaults(handler=_print_completion)


def _print_completion(args: argparse.Namespace) -> int:
    import shtab  # noqa: PLC0415

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _format_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except RcapError as exc:
        sys.stderr.write(f"rcap: error: {_one_line(str(exc))}\n")
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in REPORT_STACK:
            raise
        sys.stderr.write(f"rcap: error: this command needs {exc.name}, from the report extra: "
                         f"pip install '{DISTRIBUTION}[report]'\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("rcap: interrupted\n")
        return 130
    except BrokenPipeError:  # `rcap … | head`: the reader left; not an error of ours
        import os  # noqa: PLC0415

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
