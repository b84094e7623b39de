"""The custom distributed step: the same epochs, callbacks and logs as ``model.fit``.

Used for MultiWorkerMirroredStrategy (where Keras 3's ``fit`` fails, keras-team/keras#20585) and
on request (``loop: custom``). Per replica: forward, per-example loss,
``tf.nn.compute_average_loss(..., global_batch_size=GLOBAL)`` (so the all-reduced gradient is the
global-batch mean), the Keras optimizer's ``apply_gradients`` (it all-reduces). Metrics are Keras
metrics whose variables are summed across replicas and workers when read.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


class CustomLoop:
    def __init__(self, model, strategy, cfg, metrics: list, *, jit: bool = False):
        from archspec.train.compile import make_loss

        self.model, self.strategy, self.cfg = model, strategy, cfg
        self.global_batch = cfg.batch_size
        with strategy.scope():
            self.loss_fn = make_loss(cfg, model, reduction=None)
            self.loss_mean = keras.metrics.Mean(name="loss")
            self.metrics = [m.__class__.from_config(m.get_config()) for m in metrics]
            if not model.optimizer.built:  # its variables must not be created inside the tf.function
                model.optimizer.build(model.trainable_variables)
        self._jit = jit
        self._train = tf.function(self._train_step, jit_compile=jit or None)
        self._eval = tf.function(self._eval_step, jit_compile=jit or None)

    # ------------------------------------------------------------------ steps
    def _replica_train(self, x, y):
        model, opt = self.model, self.model.optimizer
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            per_example = tf.cast(self.loss_fn(y, pred), tf.float32)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)
            reg = tf.add_n([tf.cast(r, tf.float32) for r in model.losses]) if model.losses else 0.0
            if model.losses:
                loss += tf.nn.scale_regularization_loss(reg)
            scaled = opt.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        self.loss_mean.update_state(per_example + reg)
        for m in self.metrics:
            m.update_state(y, pred)
        return loss

    def _train_step(self, iterator):
        x, y = next(iterator)
        per_replica = self.strategy.run(self._replica_train, args=(x, y))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _replica_eval(self, x, y):
        pred = self.model(x, training=False)
        per_example = tf.cast(self.loss_fn(y, pred), tf.float32)
        reg = tf.add_n([tf.cast(r, tf.float32) for r in self.model.losses]) if self.model.losses else 0.0
        self.loss_mean.update_state(per_example + reg)
        for m in self.metrics:
            m.update_state(y, pred)

    def _eval_step(self, x, y):
        self.strategy.run(self._replica_eval, args=(x, y))

    def _reset(self):
        self.loss_mean.reset_state()
        for m in self.metrics:
            m.reset_state()

    def _results(self, prefix: str = "") -> dict:
        out = {prefix + "loss": float(self.loss_mean.result())}
        for m in self.metrics:
            out[prefix + m.name] = float(m.result())
        return out

    # ------------------------------------------------------------------ epochs
    def fit(self, train_ds, steps: int, val_ds, vsteps, *, callbacks: list, verbose: int,
            initial_epoch: int = 0) -> None:
        """The epochs from ``initial_epoch`` (a resumed run) to ``cfg.epochs``, as ``model.fit`` runs them."""
        model, cfg = self.model, self.cfg
        cbs = keras.callbacks.CallbackList(callbacks, add_progbar=verbose != 0, model=model, verbose=verbose,
                                           epochs=cfg.epochs, steps=steps)
        model.stop_training = False
        cbs.on_train_begin()
        start = initial_epoch
        iterator = iter(self.strategy.experimental_distribute_dataset(train_ds))
        val_iter = iter(self.strategy.experimental_distribute_dataset(val_ds)) if val_ds is not None else None
        logs: dict = {}
        trained = self._trainable_ids()
        for epoch in range(start, cfg.epochs):
            self._reset()
            cbs.on_epoch_begin(epoch)
            if self._trainable_ids() != trained:  # a layer unfrozen (staged unfreezing): trace again
                trained = self._trainable_ids()
                self._train = tf.function(self._train_step, jit_compile=self._jit or None)
            running = 0.0
            for step in range(steps):
                cbs.on_train_batch_begin(step)
                loss = float(self._train(iterator))
                running += loss
                cbs.on_train_batch_end(step, {"loss": running / (step + 1) if math.isfinite(loss) else loss})
                if model.stop_training:
                    break
            logs = self._results()
            if val_iter is not None and not model.stop_training:
                logs.update(self._validate(val_iter, vsteps))
            cbs.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        cbs.on_train_end(logs)

    def _trainable_ids(self) -> tuple:
        return tuple(id(v) for v in self.model.trainable_variables)

    def _validate(self, val_iter, vsteps: int) -> dict:
        self._reset()
        for _ in range(vsteps):
            x, y = next(val_iter)
            self._eval(x, y)
        return self._results("val_")

    def evaluate(self, ds) -> dict:
        """Loss and metrics over a finite dataset, computed locally by each worker.

        No collectives: every worker holds the same weights, so each gets the same numbers, and a
        shard with one batch fewer cannot leave the others waiting.
        """
        loss_mean = keras.metrics.Mean(name="loss")
        metrics = [m.__class__.from_config(m.get_config()) for m in self.metrics]
        loss_fn = self.loss_fn

        @tf.function
        def step(x, y):
            pred = self.model(x, training=False)
            loss_mean.update_state(tf.cast(loss_fn(y, pred), tf.float32))
            for m in metrics:
                m.update_state(y, pred)

        for x, y in ds:
            step(x, y)
        out = {"loss": float(loss_mean.result())}
        out.update({m.name: float(m.result()) for m in metrics})
        return out
