"""The ``archspec`` command line.

    archspec validate SPEC [--set k=v ...]
    archspec summary SPEC [--set k=v ...] [--json] [--source]
    archspec build SPEC [--set k=v ...] -o model.keras
    archspec resolve SPEC [--set k=v ...]
    archspec ops [FILTER]
    archspec diff A B [--set k=v] [--set-b k=v] [--include-path DIR]
    archspec plot SPEC -o FILE.svg|png [--collapse N]
    archspec export MODEL|RUN|SPEC --format keras|savedmodel|tflite [-o OUT] [--include-path DIR]
    archspec visualize MODEL --layer NAME (--image IMG | --maximize) -o maps.png
    archspec schema [-o FILE]
    archspec zoo
    archspec train SPEC ... | archspec evaluate RUN_DIR ... | archspec tune SPEC ...

``-v``/``--verbose`` (before the command, or after it except for ``train``, whose ``--verbose
{0,1,2}`` sets its progress output) shows what TensorFlow prints by itself: its start-up lines
(oneDNN, CUDA drivers, cuInit) and warnings, hidden by default (:mod:`archspec._env`).

Each command is a module of this package with ``add_parser(subparsers)`` and ``run(args)``: it
parses, calls the library, prints. A mistake in a spec or an argument prints a located error in a
few lines and exits with status 2, as does a file that cannot be read or written (``FileError``:
truncated, full disk, read-only, in use); a failure of the run itself (``RunError``) exits with 1;
never a traceback. SIGTERM (what schedulers and ``docker stop`` send) is handled as Ctrl-C is:
a run records ``interrupted`` and the command exits with 143. argparse (stdlib) is enough here and keeps ``archspec summary`` fast: no command
module imports TensorFlow until it runs, and a command line that names its command imports only
that command's module (:data:`COMMAND_NAMES`; help and mistakes build the whole parser).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from archspec import _env
from archspec.errors import FileError, RunError, SpecError, Terminated, did_you_mean

EXIT_RUN_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool its reader closed

#: the command modules, in the order ``archspec --help`` lists them
COMMANDS = tuple(f"archspec.cli.{name}" for name in (
    "validate", "summary", "build", "resolve", "ops", "diff", "plot", "export", "visualize", "schema", "zoo",
    "train", "tune", "bench"))


#: every command, and the module that adds it where that is not ``archspec.cli.<command>``
#: (``tests/cli/test_command_import.py`` checks this against what the modules add)
COMMAND_NAMES = ("validate", "summary", "build", "resolve", "ops", "diff", "plot", "export", "visualize",
                 "schema", "zoo", "train", "evaluate", "tune", "bench")
_MODULE_OF = {"evaluate": "archspec.cli.train"}

_VERBOSE_HELP = "show what TensorFlow prints by itself (start-up lines, warnings; hidden by default)"


class _Parser(argparse.ArgumentParser):
    """The main parser: an unknown command gets a "did you mean" (argparse only lists them)."""

    commands: dict = {}  # name -> its parser, set by make_parser

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        # the main options take no value: the first word that is not an option is the command
        command = next((a for a in args if not a.startswith("-")), None)
        if command is not None and command not in self.commands:
            self.error(f"unknown command `{command}`; "
                       + (did_you_mean(command, self.commands) or "commands: " + ", ".join(self.commands)))
        return super().parse_known_args(args, namespace)


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with ``only`` (one of :data:`COMMAND_NAMES`), of that command
    alone: only its module is imported (what :func:`main` does for a command line that names
    one, so ``archspec summary`` does not import the training and tuning modules)."""
    parser = _Parser(prog="archspec", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="store_true", dest="tensorflow_logs", help=_VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=argparse.ArgumentParser)
    modules = COMMANDS if only is None else (_MODULE_OF.get(only, f"archspec.cli.{only}"),)
    for name in modules:
        module = importlib.import_module(name)
        # a module adds its one command; train.py (train, evaluate) and tune.py add theirs
        add = getattr(module, "add_parser", None) or module.add_parsers
        add(sub)
    for command in sub.choices.values():
        _add_verbose(command)
    parser.commands = sub.choices
    return parser


def _add_verbose(command: argparse.ArgumentParser) -> None:
    """``-v``/``--verbose`` after the command too, where the command has no option of that name
    (``train --verbose N`` is its progress output: there, ``archspec -v train``)."""
    try:
        command.add_argument("-v", "--verbose", action="store_true", dest="tensorflow_logs",
                             default=argparse.SUPPRESS, help=_VERBOSE_HELP)
    except argparse.ArgumentError:  # "conflicting option string"
        pass


def _version() -> str:
    from archspec import __version__

    return f"archspec {__version__}"


def main(argv: list[str] | None = None) -> int:
    """Run ``archspec ARGV``; return the exit status (0 done, 1 a run failed, 2 a mistake in the
    spec or the arguments, 130 interrupted, 141 the reader of stdout went away)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = make_parser(_named_command(argv)).parse_args(argv)
    previous = _handle_sigterm()
    was_verbose = _env.is_verbose()
    _env.set_verbose(was_verbose or args.tensorflow_logs)
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # here, not at exit: a closed pipe is then handled below
        return code
    except (SpecError, FileError) as err:
        print(err.format(), file=sys.stderr)
        return EXIT_USER_ERROR
    except RunError as err:
        print(err.format(), file=sys.stderr)
        return EXIT_RUN_ERROR
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`archspec summary --json | head`): stop quietly, as Unix tools do;
        # stdout goes to /dev/null so that Python's own flush at exit cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        _env.set_verbose(was_verbose)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _named_command(argv: list[str]) -> str | None:
    """The command ``argv`` names, where its parser alone will do: a known command, not preceded
    by ``-h``/``--help``/``--version`` (those show every command); else None."""
    for arg in argv:
        if arg in ("-h", "--help", "--version"):
            return None
        if not arg.startswith("-"):  # the main options take no value: the first word is the command
            return arg if arg in COMMAND_NAMES else None
    return None


def _handle_sigterm():
    """Turn SIGTERM into :class:`Terminated` (a KeyboardInterrupt: every ``finally`` and the run's
    own bookkeeping see it as Ctrl-C); the previous handler, or None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def raise_terminated(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, raise_terminated)


if __name__ == "__main__":
    sys.exit(main())
