"""The data of a search: loaded, split, checked and brought to the model's input as ``archspec
train`` does it, once for the whole search.

:func:`check_data` is the part that needs no TensorFlow for ``sklearn:`` and ``npz:`` sources:
the source, the ``train:`` section's splits (``test_split``, ``validation_split``,
``validation_data``) and :func:`archspec.train.checks.check_fit` against the model's input and
outputs, read from the spec's analysis with each search space at its default (pure Python). A
mismatch is the located SpecError ``archspec train`` raises, before any trial. :func:`fit_arrays`
then resizes, pads or reshapes the arrays (``fit_input``) with the function ``archspec train``
maps over its batches (:func:`archspec.train.data.fit_fn`): an image at a time, so converting
every array once gives the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archspec.errors import SpecError, command_line
from archspec.train.config import TrainConfig

if TYPE_CHECKING:
    from archspec.spec import Spec
    from archspec.train.data import Data

#: examples converted per TensorFlow call by :func:`fit_arrays` (bounds its extra memory)
CHUNK = 4096


def load_data(name: str | None = None, *, spec: Spec | None = None, overrides: dict | None = None):
    """``(x_train, y_train), (x_val, y_val)`` of a data source, split as ``archspec train`` splits
    it (its test split held out; validation from ``train.validation_split`` or
    ``train.validation_data``).

    ``name`` (``sklearn:digits``, ``npz:PATH``, ``keras:mnist``: sources with arrays) replaces the
    spec's ``train.data``, as ``--data`` does. With ``spec``, the data is checked against the model
    as ``archspec train`` checks it (:func:`check_data`: a located SpecError) and brought to the
    model's input (:func:`fit_arrays`); without one, the arrays are only checked (finite, numeric,
    not empty).

    Example:
        >>> (x, y), (xv, yv) = load_data(spec=archspec.load("architectures/lenet5.yaml"))  # doctest: +SKIP
        >>> x.shape[1:]                      # 8x8 digits resized to LeNet-5's input   # doctest: +SKIP
        (32, 32, 1)
    """
    data, how, shape = check_data(name, spec, overrides)
    return fit_arrays(data, how, shape)


def check_data(name: str | None, spec: Spec | None, overrides: dict | None = None
               ) -> tuple[Data, str | None, tuple | None]:
    """``(data, how, model input shape)``: the data loaded and split, checked against the model of
    ``spec`` (its defaults) with :func:`archspec.train.checks.check_fit`; ``how`` says how to bring
    an example to the model's input (None, ``resize``, ``pad``, ``reshape``). TensorFlow-free for
    ``sklearn:`` and ``npz:`` sources."""
    from archspec.train import data as data_mod
    from archspec.train.checks import check_arrays, check_fit

    cfg = search_config(spec, name, overrides)
    shape, units = model_io(spec) if spec is not None else (None, None)
    data = data_mod.load_data(cfg.data, cfg, cfg.loc("data"), model_input=shape)
    if cfg.validation_data:
        vdata = data_mod.load_data(cfg.validation_data, cfg, cfg.loc("validation_data"), model_input=shape)
        data.val = vdata.test or vdata.train
    if data.train.x is None or data.val is None or data.val.x is None:
        raise SpecError("tuning needs a data source that loads as arrays, with a validation split",
                        cfg.loc("data"), received=cfg.data, hint="e.g. sklearn:digits, npz:PATH, keras:mnist")
    if spec is None:
        check_arrays(data, None, "model", cfg)  # finite, numeric, not empty
        return data, None, None
    from archspec.train.hints import spec_suggester

    how = check_fit(data, shape, units, cfg, spec.name, suggest=spec_suggester(spec))
    return data, how, shape


def search_config(spec: Spec | None, data: str | None = None, overrides: dict | None = None) -> TrainConfig:
    """The ``train:`` settings of the spec (its spaces at their defaults) with ``overrides``
    (``--set train.X``) and ``data`` in place of ``train.data`` (located on the command line,
    ``--data``) as ``archspec train`` takes them."""
    given = {k: (v if isinstance(v, tuple) and len(v) == 2 else (v, None)) for k, v in (overrides or {}).items()}
    if data is not None:
        given["data"] = (data, command_line("--data"))
    return TrainConfig.from_sources(spec.train if spec is not None else None, given)


def model_io(spec: Spec) -> tuple[tuple, int | None]:
    """The model's (first) input shape and its (first) output's units, from the analyzer."""
    outputs = spec.output_shapes[0]
    return tuple(spec.input_shapes[0]), (outputs[-1] if outputs else None)


def fit_arrays(data: Data, how: str | None, shape: tuple | None):
    """``(x_train, y_train), (x_val, y_val)``, each example brought to ``shape`` as ``how`` says
    (:func:`archspec.train.data.fit_fn`, TensorFlow; nothing to do when ``how`` is None)."""
    parts = (data.train, data.val)
    if how is None:
        return tuple((p.x, p.y) for p in parts)
    from archspec.train.data import fit_fn

    fit = fit_fn(how, shape)
    return tuple((_mapped(fit, p.x), p.y) for p in parts)


def _mapped(fit, x):
    import numpy as np

    chunks = [fit(x[i:i + CHUNK], None)[0].numpy() for i in range(0, len(x), CHUNK)]
    return np.concatenate(chunks).astype(np.float32, copy=False)
