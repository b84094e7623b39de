"""Augmentation declared in the spec: Keras preprocessing layers, applied to training batches only.

``augmentation:`` is a list; each item is a Keras preprocessing layer by name with its arguments,
or a preset::

    augmentation:
      - random_flip: {mode: horizontal}
      - random_translation: {height_factor: 0.1, width_factor: 0.1}
      - pad_crop: {padding: 4}        # the ResNet CIFAR recipe: pad 4 pixels, random crop back
      - alexnet: {}                   # AlexNet-style: random 87.5% crop resized back + horizontal flip
"""

from __future__ import annotations

from archspec.errors import SpecError, did_you_mean
from archspec.train.config import TrainConfig

LAYERS = {
    "random_flip": "RandomFlip", "random_translation": "RandomTranslation", "random_crop": "RandomCrop",
    "random_rotation": "RandomRotation", "random_zoom": "RandomZoom", "random_contrast": "RandomContrast",
    "random_brightness": "RandomBrightness",
}
PRESETS = ("pad_crop", "alexnet")


def make_augmentation(cfg: TrainConfig, shape: tuple):
    """A ``keras.Sequential`` of the declared layers (seeded), or None. ``shape``: the model input."""
    import keras

    items = cfg.augmentation
    if not items:
        return None
    layers = []
    for i, item in enumerate(items):
        loc = cfg.loc("augmentation").at(f"train.augmentation[{i}]")
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise SpecError("an augmentation item is one layer: `- random_flip: {mode: horizontal}`", loc,
                            received=item)
        (name, args), = item.items()
        args = dict(args or {})
        seed = cfg.seed + i
        h, w = int(shape[0]), int(shape[1])
        if name == "pad_crop":
            pad = int(args.pop("padding", 4))
            layers += [keras.layers.ZeroPadding2D(pad), keras.layers.RandomCrop(h, w, seed=seed)]
        elif name == "alexnet":
            frac = float(args.pop("crop", 0.875))
            layers += [keras.layers.RandomCrop(int(h * frac), int(w * frac), seed=seed),
                       keras.layers.Resizing(h, w), keras.layers.RandomFlip("horizontal", seed=seed)]
        elif name in LAYERS:
            try:
                layers.append(getattr(keras.layers, LAYERS[name])(seed=seed, **args))
            except (TypeError, ValueError) as exc:
                raise SpecError(f"Keras rejected `{name}`: {exc}", loc, received=args) from None
            continue
        else:
            choices = tuple(LAYERS) + PRESETS
            raise SpecError(f"unknown augmentation `{name}`", loc, received=name,
                            hint=did_you_mean(name, choices) or "one of: " + ", ".join(choices))
        if args:
            raise SpecError(f"unknown argument(s) for `{name}`: {', '.join(args)}", loc, received=args)
    return keras.Sequential(layers, name="augmentation")
