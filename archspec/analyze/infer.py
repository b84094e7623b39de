"""One node's analysis, as the resolver adds it: argument checks, the op's TF-free rule, or
Keras' answer when the op has none (:mod:`archspec.analyze.fallback`, the one place analysis may
import Keras). A rule's complaint is turned into a located SpecError here."""

from __future__ import annotations

from archspec.errors import Loc, SpecError
from archspec.ir import Result
from archspec.ops import OpDef
from archspec.ops.arguments import check_arguments
from archspec.ops.base import NoRule, ShapeError, format_shape


def analyze_node(op: OpDef, args: dict, shapes: list, loc: Loc,
                 arg_locs: dict | None = None) -> tuple[Result, bool]:
    """Run the op's analyzer rule; fall back to Keras when there is none (imports Keras).

    A rule's complaint about one argument is located at that argument's value."""
    try:
        check_arguments(op.cls, args, op.bools)
        if op.rule is None:
            raise NoRule(op.cls)
        return op.rule(args, shapes), False
    except ShapeError as exc:
        if exc.arg in args and arg_locs and exc.arg in arg_locs:
            raise SpecError(f"{op.cls}: {exc.message}", arg_locs[exc.arg], received=args[exc.arg],
                            hint=exc.hint) from None
        given = ", ".join(map(format_shape, shapes))
        raise SpecError(f"{op.cls}: {exc.message}", loc, received=f"input shape {given}",
                        hint=exc.hint) from None
    except NoRule:
        pass
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
        raise SpecError(f"{op.cls}: invalid arguments ({exc})", loc, received=args) from None
    from archspec.analyze.fallback import keras_result

    return keras_result(op, args, shapes, loc), True
