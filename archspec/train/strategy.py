"""Choosing a ``tf.distribute`` strategy (``--strategy``) and reading the cluster.

``auto``: MirroredStrategy when more than one GPU is visible, MultiWorkerMirroredStrategy when
``TF_CONFIG`` names several workers, TPUStrategy when a TPU is found, else the default strategy.
GPUs and CPUs take the same code path; only the devices differ. The choice itself is the pure
function :func:`select_strategy` of the worker count, GPU count and TPU environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from archspec.errors import Loc, SpecError


def configure_logical_cpus(n: int) -> None:
    """Split the CPU into ``n`` logical devices (a test aid for MirroredStrategy without GPUs).

    Must run before TensorFlow initializes its devices (before any op), else TF refuses.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as exc:  # "Virtual devices cannot be modified after being initialized"
        if len(tf.config.list_logical_devices("CPU")) != n:
            raise RuntimeError(f"cannot split the CPU into {n} logical devices: {exc}") from None


def tf_config() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as exc:
        raise SpecError(f"TF_CONFIG is not valid JSON: {exc}", Loc("<environment>", 0, 0, "TF_CONFIG")) from None


def cluster_workers() -> int:
    cluster = tf_config().get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


@dataclass
class Role:
    """This process's place in a cluster: the chief writes artifacts, others write to temp dirs."""

    task_type: str = "worker"
    task_id: int = 0
    is_chief: bool = True


def role(strategy) -> Role:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not tf_config().get("cluster"):
        return Role()
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    has_chief = "chief" in tf_config().get("cluster", {})
    chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return Role(task_type or "worker", int(task_id), chief)


def _tpu():
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.NotFoundError):
        return None


def select_strategy(workers: int, gpus: int, tpu_named: bool = False) -> str:
    """``auto``'s strategy name: ``multi_worker`` for a cluster of several workers, ``mirrored``
    over several GPUs, ``tpu`` where the environment names a TPU (the default strategy if none is
    found), else ``default``."""
    if workers > 1:
        return "multi_worker"
    if gpus > 1:
        return "mirrored"
    if tpu_named:
        return "tpu"
    return "default"


def make_strategy(name: str, loc: Loc):
    """The strategy ``name`` (see the module docstring for ``auto``)."""
    import tensorflow as tf

    # physical, not logical: listing logical devices initializes TensorFlow's context, after which
    # MultiWorkerMirroredStrategy can no longer configure its collective ops
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = select_strategy(cluster_workers(), len(gpus),
                               bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR")))
        if name == "tpu":
            strategy = _tpu()
            if strategy is not None:
                return strategy
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multi_worker":
        if cluster_workers() < 1:
            raise SpecError("the multi_worker strategy needs TF_CONFIG naming the cluster", loc,
                            hint='e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                                 '"task": {"type": "worker", "index": 0}}\'; see docs/training.md')
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        strategy = _tpu()
        if strategy is None:
            raise SpecError("no TPU was found", loc, hint="use --strategy auto to pick what is available")
        return strategy
    raise AssertionError(name)  # pragma: no cover (config.check validated the name)


def describe(strategy) -> str:
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return f"MultiWorkerMirroredStrategy ({cluster_workers()} workers)"
    return type(strategy).__name__.replace("_DefaultDistributionStrategy", "DefaultStrategy")
