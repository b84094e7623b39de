"""See what a network learned (lecture 004): feature maps of a layer, and the input patterns
that maximize chosen filters (gradient ascent on the input, Erhan et al. 2009; Zeiler & Fergus
2013 visualize with deconvnets, which we do not reproduce).

    archspec visualize MODEL.keras --layer c1 --image digit.png -o maps.png
    archspec visualize MODEL.keras --layer c3 --maximize --filters 0-7 -o patterns.png
"""

from __future__ import annotations

import math
from pathlib import Path

from archspec._recursion import deep_recursion
from archspec.errors import Loc, SpecError, command_line, did_you_mean



def _layer(model, name: str):
    names = [l.name for l in model.layers]
    if name not in names:
        raise SpecError(f"the model has no layer `{name}`", command_line("--layer"),
                        received=name, hint=did_you_mean(name, names) or "layers: " + ", ".join(names[:30]))
    layer = model.get_layer(name)
    if len(layer.output.shape) != 4:
        raise SpecError(f"layer `{name}` does not output feature maps (batch, height, width, channels)",
                        command_line("--layer"), received=tuple(layer.output.shape),
                        hint="choose a convolution or pooling layer")
    return layer


def load_image(path: str | Path, shape: tuple):
    """An image file as a float32 array of the model's input ``shape`` (H, W, C), in [0, 1]."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    h, w, c = shape
    try:
        img = Image.open(path)
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise SpecError(f"cannot read the image: {exc}", Loc(str(path))) from None
    img = img.convert("L" if c == 1 else "RGB").resize((w or img.width, h or img.height))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr.reshape(arr.shape[0], arr.shape[1], c)


def _probe(model, layer):
    """A model from ``model``'s inputs to ``layer``'s output."""
    import keras

    with deep_recursion(model):  # Keras walks the graph recursively (archspec/_recursion.py)
        return keras.Model(model.inputs, layer.output)


def feature_maps(model, layer_name: str, image):
    """The layer's output for one image: an array (height, width, channels)."""
    probe = _probe(model, _layer(model, layer_name))
    return probe.predict(image[None], verbose=0)[0]


def write_feature_maps(model, layer_name: str, image_path: str | Path, output: str | Path, *,
                       max_maps: int = 64) -> tuple[Path, int, tuple[int, int]]:
    """Draw the first ``max_maps`` feature maps of ``layer_name`` for the image at ``image_path``
    into the PNG ``output``; return (the path, the number of maps drawn, their height and width).

    >>> write_feature_maps(model, "c3", "digit.png", "maps.png")    # doctest: +SKIP
    (PosixPath('maps.png'), 16, (10, 10))
    """
    image = load_image(image_path, tuple(model.inputs[0].shape[1:]))
    maps = feature_maps(model, layer_name, image)
    path = save_grid(maps[..., :max_maps], output,
                     f"{layer_name}: {maps.shape[-1]} feature maps of {Path(image_path).name}")
    return path, min(maps.shape[-1], max_maps), (maps.shape[0], maps.shape[1])


def write_maximized(model, layer_name: str, filters: str, output: str | Path, *,
                    steps: int = 60) -> tuple[Path, float, float]:
    """Draw the inputs that maximize ``filters`` (``"0-7,12"``) of ``layer_name`` into the PNG
    ``output``; return (the path, the mean activation before, after the ``steps`` of ascent)."""
    images, before, after = maximize(model, layer_name, parse_filters(filters), steps=steps)
    path = save_grid(images, output, f"{layer_name}: inputs maximizing filters {filters}")
    return path, sum(before) / len(before), sum(after) / len(after)


def maximize(model, layer_name: str, filters: list[int], *, steps: int = 60, step_size: float = 0.05,
             seed: int = 0):
    """Inputs that maximize the mean activation of each filter; returns (images, before, after)."""
    import numpy as np
    import tensorflow as tf

    layer = _layer(model, layer_name)
    channels = layer.output.shape[-1]
    bad = [f for f in filters if not 0 <= f < channels]
    if bad:
        raise SpecError(f"layer `{layer_name}` has {channels} filters (0..{channels - 1})",
                        command_line("--filters"), received=bad)
    probe = _probe(model, layer)
    shape = [1] + [d or 64 for d in model.inputs[0].shape[1:]]
    rng = np.random.default_rng(seed)
    images, before, after = [], [], []
    for f in filters:
        x = tf.Variable(0.5 + 0.1 * rng.standard_normal(shape).astype("float32"))

        def objective():
            return tf.reduce_mean(probe(x, training=False)[..., f])

        before.append(float(objective()))
        for _ in range(steps):
            with tf.GradientTape() as tape:
                value = objective()
            grad = tape.gradient(value, x)
            grad /= tf.math.reduce_std(grad) + 1e-8
            x.assign(tf.clip_by_value(x + step_size * grad, 0.0, 1.0))
        after.append(float(objective()))
        images.append(x.numpy()[0])
    return images, before, after


def save_grid(maps, output: str | Path, title: str) -> Path:
    """A grid of 2D maps (a list, or an (H, W, C) array split by channel) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if isinstance(maps, np.ndarray) and maps.ndim == 3:
        maps = [maps[..., i] for i in range(maps.shape[-1])]
    n = len(maps)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            m = maps[i]
            m = m if m.ndim == 2 else (m[..., 0] if m.shape[-1] == 1 else m)
            ax.imshow(m, cmap="viridis" if m.ndim == 2 else None)
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def parse_filters(text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise SpecError("`--filters` takes numbers and ranges like 0-7,12",
                        command_line("--filters"), received=text) from None
    return out
