"""The human-readable summary table (``archspec summary``)."""

from __future__ import annotations

from archspec.analyze import Analysis
from archspec.ir import format_shape
from archspec.analyze.receptive import GLOBAL


def _num(n) -> str:
    return "?" if n is None else f"{n:,}"


def _rf(rf) -> str:
    if rf is None:
        return ""
    if rf == GLOBAL:
        return "global"
    size, jump = rf
    s = "x".join(str(v) for v in size) if len(set(size)) > 1 else str(size[0]) if size else ""
    j = "x".join(f"{v:g}" for v in jump) if len(set(jump)) > 1 else (f"{jump[0]:g}" if jump else "")
    return f"{s} /{j}"


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


#: the totals of a spec whose input (or some layer's output) has a dimension of any size
VARIABLE = "depends on the input size"
_VARIABLE_HINT = "for these figures, give the input a fixed size (`--set` the parameter that sets it)"


def format_table(analysis: Analysis, *, show_source: bool = False, size_hint: str | None = None) -> str:
    """A Keras-like summary with MACs and receptive field (size /jump) columns. Where MACs or
    memory depend on the input size (a ``None`` dimension), the totals say so instead of
    summing the known rows, followed by ``size_hint`` (how to fix the size)."""
    head = ["Layer (op)", "Output shape", "Params", "MACs", "RF /jump"]
    rows = []
    for r in analysis.layers:
        label = f"{r.name} ({r.op})" + (" *" if r.fallback else "")
        row = [label, format_shape(r.output_shape), _num(r.params), _num(r.macs), _rf(r.receptive_field)]
        if show_source:
            row.append(r.source)
        rows.append(row)
    if show_source:
        head.append("Source")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    right = {2, 3}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    sep = "-" * (sum(widths) + 2 * (len(widths) - 1))
    out = [f'Model: "{analysis.name}"', sep, line(head), sep, *(line(r) for r in rows), sep]
    out += [
        f"Total params: {analysis.total_params:,} ({human_bytes(analysis.total_params * 4)})",
        f"Trainable params: {analysis.trainable_params:,}",
        f"Non-trainable params: {analysis.non_trainable_params:,}",
        "MACs (multiply-accumulates) per sample: "
        + (VARIABLE if analysis.macs_depend_on_input_size
           else f"{analysis.macs:,} (= {2 * analysis.macs / 1e9:.3g} GFLOPs)"),
        "Activation memory per sample (float32): "
        + (VARIABLE if analysis.memory_depends_on_input_size else human_bytes(analysis.activation_bytes)),
    ]
    if analysis.macs_depend_on_input_size or analysis.memory_depends_on_input_size:
        out.append(f"Hint: {size_hint or _VARIABLE_HINT}")
    if analysis.fallback_layers:
        n = len(analysis.fallback_layers)
        out.append(f"* analyzed by Keras ({n} layer{'s' if n > 1 else ''} without an archspec rule: "
                   f"TensorFlow was imported for {'them' if n > 1 else 'it'}; MACs unknown): "
                   + ", ".join(analysis.fallback_layers[:10])
                   + (" ..." if n > 10 else ""))
    shared = analysis.shared_layers
    if shared:
        listed = [f"{name} x{n}" for name, n in shared.items()]
        out.append("Shared weights (`share:`, counted once; `<layer>:2` is its 2nd application): "
                   + ", ".join(listed[:10]) + (" ..." if len(listed) > 10 else ""))
    if analysis.features:
        out += ["", *format_features(analysis.features)]
    return "\n".join(out)


def format_features(features) -> list[str]:
    """The backbone's features as table lines: name, channels, reduction, shape."""
    head = ["Feature", "Channels", "Reduction", "Shape"]
    rows = [[f.name, _num(f.channels), _reduction(f.reduction), format_shape(f.shape)] for f in features]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in (1, 2) else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    sep = "-" * (sum(widths) + 2 * (len(widths) - 1))
    return [f"Features ({len(features)} outputs):", sep, line(head), sep, *(line(r) for r in rows), sep]


def _reduction(r) -> str:
    if r is None:
        return "?"
    if isinstance(r, list):
        return "x".join(f"{v:g}" for v in r)
    return f"{r:g}"
