"""The hardware decisions as pure functions of a made-up machine: precision, XLA, strategy, and
the GPU peak table of the benchmarks."""

from __future__ import annotations

import pytest

from archspec.tools.bench import gpu_peak
from archspec.train.precision import cpu_has_bf16, select_jit, select_precision
from archspec.train.strategy import select_strategy

AVX2 = {"fpu", "sse2", "avx", "avx2", "fma"}  # AMD EPYC Rome-like: no AVX-512, no bf16
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16"}  # Cooper Lake, Zen 4
AMX = AVX2 | {"avx512f", "amx_tile", "amx_bf16"}  # Sapphire Rapids


@pytest.mark.parametrize("cpu, gpus, expected", [
    (AVX2, [], "float32"),
    (AVX512_BF16, [], "mixed_bfloat16"),
    (AMX, [], "mixed_bfloat16"),
    (AVX2 | {"avx512f"}, [], "float32"),  # AVX-512 without its bf16 extension
    (AVX2, [(9, 0)], "mixed_float16"),  # H100/H200
    (AVX512_BF16, [(8, 0), (8, 0)], "mixed_float16"),  # the GPU decides, not the CPU
    (AVX2, [(7, 5)], "mixed_float16"),  # T4
    (AVX2, [(6, 1)], "float32"),  # Pascal: no tensor cores
    (AVX2, [(8, 6), (6, 0)], "float32"),  # the weakest GPU decides
])
def test_precision_auto(cpu, gpus, expected):
    assert select_precision(cpu, gpus) == expected


def test_bf16_flag_is_a_whole_word():
    assert cpu_has_bf16({"avx512_bf16"}) and cpu_has_bf16({"amx_bf16"})
    assert not cpu_has_bf16({"avx512_bf16x"}) and not cpu_has_bf16(set())


@pytest.mark.parametrize("gpus, tpus, expected", [(0, 0, False), (1, 0, True), (8, 0, True), (0, 8, True)])
def test_jit_auto_only_with_an_accelerator(gpus, tpus, expected):
    assert select_jit(gpus, tpus) is expected


@pytest.mark.parametrize("workers, gpus, tpu, expected", [
    (0, 0, False, "default"),
    (1, 1, False, "default"),
    (0, 2, False, "mirrored"),
    (0, 8, True, "mirrored"),
    (2, 4, False, "multi_worker"),
    (0, 0, True, "tpu"),
    (1, 0, True, "tpu"),
])
def test_strategy_auto(workers, gpus, tpu, expected):
    assert select_strategy(workers, gpus, tpu) == expected


@pytest.mark.parametrize("name, tflops", [
    ("NVIDIA H200", 989), ("NVIDIA H100 80GB HBM3", 989), ("NVIDIA H100 PCIe", 756),
    ("NVIDIA A100-SXM4-40GB", 312), ("NVIDIA L4", 121), ("NVIDIA L40S", 362), ("Tesla T4", 65),
    ("NVIDIA A10G", 70), ("Tesla V100-SXM2-16GB", 125),
])
def test_gpu_peak_by_device_name(name, tflops):
    assert gpu_peak(name) == tflops * 1e12


def test_unknown_gpu_has_no_peak():
    assert gpu_peak("NVIDIA GeForce GTX 1080") is None
