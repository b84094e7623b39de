"""What every ``archspec`` command shares: ``--set`` parsing, the spec arguments, loading a spec.

>>> parse_sets(["classes=10", "train.epochs=5"])
({'classes': 10}, {'epochs': (5, Loc(file='<command line>', line=0, col=0, path='--set train.epochs'))})
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from archspec.errors import SpecError, command_line

if TYPE_CHECKING:
    from archspec.spec import Spec

#: the ``override_loc`` of parameters given with ``--set``
SET_LOC = command_line()
_PARAM_HINT = "e.g. --set classes=10 --set input_shape=[32,32,3]"
_TRAIN_HINT = "e.g. --set train.epochs=5"
SPEC_HELP = "the YAML spec file, or a zoo name (`archspec zoo` lists them): an existing file wins"


def parse_sets(items: list[str] | None, *, train: bool = True, flag: str = "--set") -> tuple[dict, dict]:
    """``--set NAME=VALUE`` items -> (spec parameters ``{name: value}``, train overrides
    ``{dotted field without "train.": (value, Loc)}``). VALUE is YAML (``10``, ``0.5``,
    ``[32,32,3]``); text that is not YAML is taken as a string, an empty VALUE as null.

    With ``train=False`` (commands that do not train) a ``train.FIELD`` item is refused like
    any other name that is not an identifier. ``flag``: the option the items came with, for
    the error messages (``--set-b``).
    """
    params: dict = {}
    train_sets: dict = {}
    for i, item in enumerate(items or []):
        key, sep, text = item.partition("=")
        key = key.strip()
        if train and key.startswith("train."):
            loc = command_line(f"{flag} {key}")
            if not sep or not key[6:]:
                raise SpecError(f"`{flag}` takes NAME=VALUE", loc, received=item, hint=_TRAIN_HINT)
            train_sets[key[6:]] = (_value(text), loc)
            continue
        if not sep or not key.isidentifier():
            raise SpecError(f"`{flag}` takes NAME=VALUE", command_line(f"{flag}[{i}]"), received=item,
                            hint=_PARAM_HINT)
        params[key] = _value(text)
    return params, train_sets


def _value(text: str):
    from archspec.spec.load import load_yaml, plain

    try:
        value = load_yaml(text, "<--set>") if text.strip() else None
    except SpecError:
        return text  # not YAML: take it as a string
    return plain(value)


def add_set_argument(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help=help or "override a parameter (repeatable); VALUE is YAML: 10, 0.5, [32,32,3]")


def add_include_path_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include-path", action="append", metavar="DIR",
                   help="a folder `extends`/`use` may also name files in (repeatable); by default: "
                        "the spec's folder and the zoo")


def add_spec_arguments(p: argparse.ArgumentParser) -> None:
    """SPEC, ``--set``, ``--include-path`` and ``--no-limits``."""
    p.add_argument("spec", help=SPEC_HELP)
    add_set_argument(p)
    add_include_path_argument(p)
    p.add_argument("--no-limits", action="store_true",
                   help="lift the size limits (parameters per layer and in total, activation memory, "
                        "layers; see docs/language.md) for validate, summary and build")


def spec_file(source: str) -> str | Path:
    """``source`` itself, or the zoo's file that it names (said in one line on stderr); a name
    neither here nor in the zoo raises SpecError (see :func:`archspec.spec.document.zoo_lookup`)."""
    from archspec.spec.document import zoo_lookup

    found = zoo_lookup(source)
    if found is None:
        return source
    mine = f", not ./{found.name} (name it `{found.name}` to use that)" if Path(found.name).is_file() else ""
    print(f"using the zoo's {found.stem} ({found}){mine}", file=sys.stderr)
    return found


def load_document(path, args):
    """The spec document at ``path`` (or of that zoo name), with the ``--include-path`` folders
    of ``args``."""
    from archspec.spec.document import load_document as _load_document

    return _load_document(spec_file(path), include_path=getattr(args, "include_path", None) or ())


def load_spec(args, *, path=None, params: dict | None = None) -> "Spec":
    """The spec ``args.spec`` (or ``path``) with the ``--set`` parameters of ``args`` (or
    ``params``) and its ``--include-path`` folders; its ``train:`` section checked. A
    ``--set train.FIELD`` is refused here: only ``archspec train`` takes one."""
    from archspec import check_train
    from archspec.spec import Spec

    if params is None:
        params, _ = parse_sets(args.set, train=False)
    document = load_document(args.spec if path is None else path, args)
    return check_train(Spec(document, params, override_loc=SET_LOC))
