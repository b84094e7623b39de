"""What the CLI prints around its own output: no TensorFlow start-up noise (unless --verbose) while
real errors still show, honest totals for variable-size specs, help for every option, where
`export` writes, and a "did you mean" for a mistyped command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from archspec import _env
from archspec.cli import main, make_parser
from tests.conftest import ROOT, ZOO

#: what TensorFlow prints by itself on a CPU machine (absl's format and banner, CUDA probing)
NOISE = ("cudart_stub", "cuInit", "absl", "E0000", "W0000", "I0000")


def _env_as_a_user_has_it(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it
    return {**env, **extra}


def test_a_tensorflow_command_prints_no_tensorflow_noise(tmp_path):
    out = tmp_path / "lenet5.keras"
    proc = subprocess.run([sys.executable, "-m", "archspec", "build", str(ZOO / "lenet5.yaml"), "-o", str(out)],
                          cwd=ROOT, env=_env_as_a_user_has_it(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"wrote {out} (60,806 parameters)\n"
    assert [word for word in NOISE if word in proc.stderr] == [], proc.stderr


FAKE_TENSORFLOW = '''\
import os, sys
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1796284881.348914   23939 cudart_stub.cc:31] Could not find cuda drivers on "
            b"your machine, GPU will not be used.\\n")
os.write(2, b"E0000 00:00:1796284884.643811   23939 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
            b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\\n")
os.write(2, b"E1203 12:00:01.000001   23939 kernel.cc:7] a genuine C++ error\\n")
print("a message from Python", file=sys.stderr)
if os.environ["FAKE_TENSORFLOW_ENDS"] == "abort":
    os.write(2, b"F1203 12:00:01.000002   23939 cpu_feature_guard.cc:9] compiled to use AVX instructions\\n")
    os.abort()
raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")
'''


@pytest.mark.parametrize("ends", ["raise", "abort"])
def test_errors_while_tensorflow_loads_stay_visible(tmp_path, ends):
    """Only the noise is filtered out of what TensorFlow prints while it loads: a C++ error,
    Python's own output, the traceback of a failed import, and the last words of an abort (which
    kills a filtering thread with the process) all show. A fake ``tensorflow`` package stands in
    for the real one: no second TensorFlow import."""
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_TENSORFLOW)
    env = _env_as_a_user_has_it(PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
                                FAKE_TENSORFLOW_ENDS=ends)
    proc = subprocess.run([sys.executable, "-m", "archspec", "build", str(ZOO / "lenet5.yaml"),
                           "-o", str(tmp_path / "x.keras")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    err = proc.stderr
    assert [word for word in ("cudart_stub", "cuInit", "absl", "I0000") if word in err] == [], err
    assert err.startswith("E1203 12:00:01.000001   23939 kernel.cc:7] a genuine C++ error\na message from Python\n")
    if ends == "abort":
        assert proc.returncode == -signal.SIGABRT
        assert err.endswith("cpu_feature_guard.cc:9] compiled to use AVX instructions\n")
    else:
        assert proc.returncode == 1
        assert "Traceback" in err and err.endswith("ImportError: libtensorflow_framework.so.2: cannot open shared "
                                                   "object file\n")


def test_filtered_stderr_passes_on_all_but_the_noise_and_the_exception(capfd):
    """(Python's own output in the filtered block, in order: the subprocess test above; here
    pytest sends ``sys.stderr`` past file descriptor 2.)"""
    with pytest.raises(RuntimeError, match="boom"):
        with _env.filtered_stderr(prefixes=["noise"]):
            os.write(2, b"noise 1\nkept 1\nnoise 2\n")
            os.write(2, b"kept 2 without a newline")
            raise RuntimeError("boom")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept 1\nkept 2 without a newline" "after\n"


def test_tflite_export_hides_the_interpreter_deprecation_warning(tmp_path, keras, capfd):
    from archspec.tools.export import export

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        path, _ = export(model, tmp_path / "m.tflite", "tflite")
    assert path.is_file()
    assert [str(w.message) for w in seen if "tf.lite.Interpreter is deprecated" in str(w.message)] == []
    assert "XNNPACK" not in capfd.readouterr().err


def test_verbose_is_global_and_leaves_train_verbose_alone():
    parse = make_parser().parse_args
    assert parse(["-v", "validate", "x.yaml"]).tensorflow_logs is True
    assert parse(["build", "x.yaml", "-o", "m.keras", "--verbose"]).tensorflow_logs is True
    assert parse(["build", "x.yaml", "-o", "m.keras"]).tensorflow_logs is False
    args = parse(["-v", "train", "x.yaml", "--verbose", "2"])
    assert (args.tensorflow_logs, args.verbose) == (True, 2)
    args = parse(["train", "x.yaml", "--verbose", "0"])
    assert (args.tensorflow_logs, args.verbose) == (False, 0)


def test_verbose_lasts_one_command(capsys):
    assert main(["-v", "validate", str(ZOO / "lenet5.yaml")]) == 0
    assert _env.is_verbose() is False


VARIABLE = "input: {shape: [null, null, 3]}\nbody:\n  - conv2d: {filters: 4, kernel_size: 3}\n" \
           "  - global_average_pooling2d\n  - dense: {units: 2}\n"


def test_summary_totals_of_a_variable_size_spec(tmp_path, capsys):
    spec = tmp_path / "any_size.yaml"
    spec.write_text(VARIABLE)
    assert main(["summary", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "MACs (multiply-accumulates) per sample: depends on the input size\n" in out
    assert "Activation memory per sample (float32): depends on the input size\n" in out
    assert "Hint: for these figures, give the input a fixed shape in the spec's `input:`" in out
    assert "Total params: 122 (488 B)" in out  # 3*3*3*4+4 + 4*2+2: these do not depend on the size

    assert main(["summary", str(spec), "--json"]) == 0
    total = json.loads(capsys.readouterr().out)["total"]
    assert total == {"params": 122, "trainable_params": 122, "non_trainable_params": 0, "macs": None,
                     "flops": None, "activation_bytes": None, "param_bytes": 488}


def test_summary_of_a_variable_size_spec_names_the_parameter_to_set(tmp_path, capsys):
    spec = tmp_path / "sized.yaml"
    spec.write_text("params: {side: null}\n" + VARIABLE.replace("[null, null, 3]", "[$side, $side, 3]"))
    assert main(["summary", str(spec)]) == 0
    assert "Hint: for these figures, give the input a fixed size, e.g. --set side=128\n" in capsys.readouterr().out
    assert main(["summary", str(spec), "--set", "side=128"]) == 0
    out = capsys.readouterr().out
    assert "MACs (multiply-accumulates) per sample: 1,714,616 (" in out  # 126*126*4 x 27 + 4*2
    assert "Hint" not in out
    assert main(["summary", str(spec), "--set", "side=128", "--json"]) == 0
    total = json.loads(capsys.readouterr().out)["total"]
    # float32 outputs: 128*128*3 + 126*126*4 + 4 + 2 values
    assert (total["macs"], total["flops"], total["activation_bytes"]) == (1_714_616, 3_429_232, 450_648)


def test_every_option_has_help():
    commands = make_parser()._subparsers._group_actions[0].choices
    missing = [f"{name} {a.dest}" for name in ("diff", "visualize", "export", "summary", "build", "plot")
               for a in commands[name]._actions if not a.help]
    assert missing == []


def test_export_writes_next_to_the_source_by_default(tmp_path, monkeypatch, capsys, keras):
    from archspec.tools.export import default_output

    assert default_output("a/lenet5.yaml", "tflite") == Path("a/lenet5_export.tflite")
    assert default_output("m.keras", "savedmodel") == Path("m_export")
    run = tmp_path / "runs" / "lenet5"
    run.mkdir(parents=True)
    assert default_output(run, "keras") == tmp_path / "runs" / "lenet5_export.keras"
    monkeypatch.chdir(run)
    assert default_output(".", "tflite") == (tmp_path / "runs" / "lenet5_export.tflite").resolve()
    assert "next to the source" in make_parser()._subparsers._group_actions[0].choices["export"].format_help()

    spec = tmp_path / "nets" / "tiny.yaml"
    spec.parent.mkdir()
    spec.write_text("input: {shape: [3]}\nbody:\n  - dense: {units: 2}\n")
    assert main(["export", str(spec)]) == 0  # from the run directory: not written there
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'nets' / 'tiny_export.keras'} (keras)")
    assert (tmp_path / "nets" / "tiny_export.keras").is_file()
    assert list(run.iterdir()) == []


@pytest.mark.parametrize("argv, hint", [
    (["sumary", "x.yaml"], "did you mean `summary`?"),
    (["-v", "biuld", "x.yaml"], "did you mean `build`?"),
    (["frobnicate"], "commands: validate, summary, build,"),
])
def test_an_unknown_command_gets_a_suggestion(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"archspec: error: unknown command `{argv[-2] if argv[-1] == 'x.yaml' else argv[-1]}`; {hint}" in err
