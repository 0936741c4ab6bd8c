"""The ``harcnn`` command line: a thin layer over the Python API.

Every user error (:class:`~harcnn.core.errors.HarcnnError`) is printed as one line and exits with status
2; so are argparse's own usage errors (one line naming the option, and where the help is). When the
reader of the output stops early (``harcnn predict ... | head -1``), the command goes on without
printing and writes all its outputs: a closed pipe is never a traceback, nor half the results.
"""

from __future__ import annotations

import argparse
import os
import sys

from harcnn.core.errors import HarcnnError

#: Rounds a GNU OpenMP (libgomp) thread spins at a barrier before it sleeps; libgomp's default is 300,000.
#: On a quiet machine fewer rounds cost nothing measurable; when other processes want the cores, a one-model
#: run on all of them slows down half as much (benchmarks/openmp_wait.py).
OPENMP_SPIN_ROUNDS = "10000"


def main(argv: list[str] | None = None) -> int:
    set_openmp_waits()
    stdout, sys.stdout = sys.stdout, _UntilClosed(sys.stdout)
    try:
        return _run(argv)
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


def set_openmp_waits() -> None:
    """Before torch loads OpenMP (importing ``harcnn.cli`` does not load torch): the spin count of
    :data:`OPENMP_SPIN_ROUNDS`, unless the environment chooses how OpenMP threads wait itself."""
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_ROUNDS


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except HarcnnError as error:
        print(f"harcnn: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harcnn: interrupted", file=sys.stderr)
        return 130


class _UntilClosed:
    """Standard output that, once its reader has gone (a closed pipe), sends the rest to /dev/null."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._close()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._close()

    def _close(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # what the stream still buffers goes there too
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the full usage of a command that takes every
    setting as an option would bury the message), and whose options have one spelling: no abbreviations
    (``harcnn study --model X`` was taken as ``--models-per-batch X``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from harcnn import __version__
    from harcnn.cli import data, experiments, label, serving

    parser = _Parser(prog="harcnn", description="Human activity recognition from inertial signals "
                                                                "with 1D convolutional networks.")
    parser.add_argument("--version", action="version", version=f"harcnn {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    data.add_commands(commands)  # data info, data download, models
    experiments.add_commands(commands)  # evaluate, study, report, leaderboard, features
    serving.add_commands(commands)  # train, predict, export
    label.add_commands(commands)  # label (the labelling app)
    return parser


if __name__ == "__main__":
    sys.exit(main())
