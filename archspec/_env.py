"""The process environment archspec sets before TensorFlow is first imported: one place.

TensorFlow prints from C++ while it loads and looks for devices (TF 2.21 on a CPU machine)::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796284881.348513   23939 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1796284881.348914   23939 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...
    E0000 00:00:1796284884.643811   23939 cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

Measured: ``TF_CPP_MIN_LOG_LEVEL=2`` hides none of the first three (absl writes them before its
logging is initialized), ``3`` hides only the cuInit line (and every later C++ error with it);
``ABSL_MIN_LOG_LEVEL``, ``GLOG_minloglevel``, ``ABSL_STDERRTHRESHOLD`` and Python's
``absl.logging`` hide none. So :func:`quiet_tensorflow` imports TensorFlow and lists its devices
with the process's stderr (file descriptor 2, where C++ writes) passed through
:func:`filtered_stderr`, which drops those lines and passes every other one on, Python's own
output included. ``archspec --verbose`` (:func:`set_verbose`) turns all of this off.

The filter is a child process (this file run as a script), not a thread: when TensorFlow aborts
while loading (``F... The TensorFlow library was compiled to use AVX instructions, but these
aren't available on your machine.``, then SIGABRT), the child still has its last words to pass on,
where a thread would die with the process before writing them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from typing import Iterator, Sequence

_verbose = False
_tensorflow_ready = False

#: a line of absl's log format: severity, date (MMDD), time (before InitializeLog: 00:00:<epoch>),
#: thread, file:line]
_ABSL_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_ABSL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_NO_DRIVER = "Could not find cuda drivers on your machine"


def set_verbose(verbose: bool) -> None:
    """With ``verbose`` (``archspec --verbose``), TensorFlow prints what it prints by itself."""
    global _verbose
    _verbose = bool(verbose)


def is_verbose() -> bool:
    return _verbose


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up noise (see the module's docstring) and hide its
    later C++ info and warning logs (``TF_CPP_MIN_LOG_LEVEL=2``, unless the user set a level);
    call it before the first ``import tensorflow``/``keras``. Later calls change nothing, as
    does :func:`set_verbose` (True)."""
    global _tensorflow_ready
    if _verbose or _tensorflow_ready:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with filtered_stderr(startup=True):
        import tensorflow as tf

        tf.config.list_physical_devices()  # where cuInit runs; it leaves the devices configurable
    _tensorflow_ready = True


@contextlib.contextmanager
def filtered_stderr(*, startup: bool = False, prefixes: Sequence[str] = ()) -> Iterator[None]:
    """Pass what the process writes to stderr during the block (file descriptor 2: C and C++
    libraries, and Python's ``sys.stderr``) through a filter, line by line as it comes, that
    drops TensorFlow's start-up noise (``startup``, see :class:`StartupNoise`) and the lines
    that start with one of ``prefixes``; every other line shows, in order. Without a stderr or a
    Python to run the filter, the block runs unfiltered."""
    rules = json.dumps({"startup": startup, "prefixes": list(prefixes)})
    try:
        sys.stderr.flush()
        read, write = os.pipe()
    except (AttributeError, OSError, ValueError):  # no stderr at all (closed, pythonw)
        read = write = None
    child = saved = None
    if read is not None:
        try:
            # -I -S: no site, no environment, nothing imported but the standard library
            child = subprocess.Popen([sys.executable, "-I", "-S", __file__, rules], stdin=read,
                                     stdout=subprocess.DEVNULL, start_new_session=True)
            saved = os.dup(2)
            os.dup2(write, 2)
        except (OSError, ValueError):  # no Python to run (embedded), no fd 2
            saved = None
        finally:
            os.close(read)
            os.close(write)
    if saved is None:
        if child is not None:
            child.wait()  # its pipe is closed: it ends at once
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the filter reads to the end
        os.close(saved)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)  # a process started inside the block may still hold the pipe


class StartupNoise:
    """True for a line TensorFlow prints while starting that says nothing wrong: absl's banner,
    info and warning lines, and a failed cuInit on a machine without CUDA drivers (there is no
    GPU to miss; with drivers, a failed cuInit is shown)."""

    def __init__(self):
        self.no_driver = False

    def __call__(self, line: str) -> bool:
        if line.startswith(_ABSL_BANNER):
            return True
        m = _ABSL_LINE.match(line)
        if not m:
            return False
        self.no_driver = self.no_driver or _NO_DRIVER in line
        return m.group(1) in "IW" or (self.no_driver and "failed call to cuInit" in line)


def _filter(rules: dict, lines, out: int) -> None:
    """Write to ``out`` the ``lines`` (bytes) that ``rules`` keep (the child's work)."""
    startup = StartupNoise() if rules["startup"] else None
    prefixes = tuple(rules["prefixes"])
    for line in lines:
        text = line.decode("utf-8", "replace")
        if text.startswith(prefixes) or (startup is not None and startup(text)):
            continue
        with contextlib.suppress(OSError):
            while line:
                line = line[os.write(out, line):]


if __name__ == "__main__":  # the filter process of filtered_stderr: stdin -> stderr
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command: let it report
    _filter(json.loads(sys.argv[1]), sys.stdin.buffer, 2)
