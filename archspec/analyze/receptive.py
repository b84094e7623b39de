"""Receptive field (size and jump, in input pixels, per spatial dimension) along the graph.

For a sliding window of effective size k and stride s on an input whose receptive field has
size r and jump j: r' = r + (k - 1) * j and j' = j * s (Araujo et al., "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019). Merges keep the largest field;
flatten, dense-after-flatten and global pooling see the whole input ("global"); upsampling and
transposed convolutions divide the jump.
"""

from __future__ import annotations

from archspec.ir import Graph

GLOBAL = "global"


def receptive_fields(graph: Graph) -> dict:
    """node name -> ((size per dim), (jump per dim)), GLOBAL, or None (no spatial meaning)."""
    out: dict = {}
    for node in graph.nodes:
        res = node.result
        if node.op == "input":
            dims = max(len(node.shape) - 1, 0)
            out[node.name] = ((1,) * dims, (1,) * dims) if dims else None
            continue
        ins = [out.get(i) for i in node.inputs]
        spatial = [f for f in ins if isinstance(f, tuple)]
        if res.rf == "global":
            out[node.name] = GLOBAL if (spatial or GLOBAL in ins) else None
        elif GLOBAL in ins:
            out[node.name] = GLOBAL
        elif not spatial:
            out[node.name] = None
        elif res.rf == "window" and res.window is not None:
            size, jump = spatial[0]
            if len(res.window) != len(size):
                out[node.name] = None
                continue
            size = tuple(r + (k - 1) * j for r, k, j in zip(size, res.window, jump))
            jump = tuple(j * s for j, s in zip(jump, res.strides))
            out[node.name] = (size, jump)
        elif res.rf == "up" and res.strides is not None:
            size, jump = spatial[0]
            out[node.name] = (size, tuple(j / s for j, s in zip(jump, res.strides)))
        else:
            best = max(spatial, key=lambda f: f[0])
            out[node.name] = best
    return out
