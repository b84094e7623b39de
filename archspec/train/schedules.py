"""A linear learning-rate warm-up in front of any Keras schedule (Goyal et al., 2017).

Registered for saving, so a ``model.keras`` whose optimizer uses it reloads once
``archspec.train`` is imported.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="archspec")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step) * (step + 1) / warmup_steps`` for the first ``warmup_steps``, then ``schedule``."""

    def __init__(self, schedule, warmup_steps: int):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        target = self.schedule(step)
        frac = keras.ops.minimum(1.0, (step + 1.0) / float(max(1, self.warmup_steps)))
        return target * frac

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "warmup_steps": self.warmup_steps}
