"""The figures in the docs that a command prints, made by running that command.

    python scripts/doc_figures.py            # check: lists each stale figure, exit 1 if any
    python scripts/doc_figures.py --write    # rewrite the generated blocks in place
    python scripts/doc_figures.py --train    # also train LeNet-5 (the README's first command)

Generated: docs/summary-json.md's example, the output of
``archspec summary architectures/resnet50.yaml --json`` cut to its first two layers.
Checked with ``--train``: the test accuracy the README and docs/training.md quote for
``archspec train architectures/lenet5.yaml``, and its ``completed in`` time against the range
quoted for this machine's CPU (AMD EPYC or Intel Xeon; a few tens of seconds). tests/test_docs.py
checks the generated blocks and the consistency of the quoted figures (epochs, accuracy, ranges).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_DOC = ROOT / "docs" / "summary-json.md"
SUMMARY_COMMAND = ["summary", "architectures/resnet50.yaml", "--json"]
SUMMARY_LAYERS = 2  # the example shows the first layers only
TRAIN_DOCS = (ROOT / "README.md", ROOT / "docs" / "training.md")


def run_archspec(args: list[str]) -> str:
    """``archspec ARGS`` run from the repository root, as the docs show it; its stdout."""
    out = subprocess.run([sys.executable, "-m", "archspec", *args], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return out.stdout


def summary_object() -> dict:
    """The real ``archspec summary architectures/resnet50.yaml --json``, ``layers`` cut."""
    data = json.loads(run_archspec(SUMMARY_COMMAND))
    data["layers"] = data["layers"][:SUMMARY_LAYERS]
    return data


def render(obj, indent: int = 0, depth: int = 0) -> str:
    """JSON as the docs show it: the object and the objects in it (a layer, ``total``) one key a
    line, anything deeper (a shape, a receptive field) on one line."""
    pad = " " * (indent + 2)
    if isinstance(obj, dict) and obj and depth <= 1:
        items = [f"{pad}{json.dumps(k)}: {render(v, indent + 2, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, dict) for v in obj):
        return "[\n" + ",\n".join(pad + render(v, indent + 2, depth) for v in obj) + "\n" + " " * indent + "]"
    return json.dumps(obj, separators=(", ", ": "))


def summary_block(text: str) -> re.Match:
    """The example (the first ```json block) in docs/summary-json.md."""
    match = re.search(r"```json\n(.*?)\n```", text, re.S)
    if not match:
        raise LookupError(f"{SUMMARY_DOC}: no ```json block")
    return match


def check_summary(write: bool) -> list[str]:
    text = SUMMARY_DOC.read_text()
    block = summary_block(text)
    fresh = render(summary_object())
    if block.group(1) == fresh:
        return []
    if write:
        SUMMARY_DOC.write_text(text[: block.start(1)] + fresh + text[block.end(1):])
        print(f"rewrote the example in {SUMMARY_DOC.relative_to(ROOT)}")
        return []
    return [f"{SUMMARY_DOC.relative_to(ROOT)}: the example differs from `archspec {' '.join(SUMMARY_COMMAND)}` "
            "(python scripts/doc_figures.py --write)"]


def quoted_main_job(text: str) -> dict:
    """What a doc quotes for the main job: the printed accuracy and the AMD EPYC ranges."""
    accuracy = re.search(r"`test: accuracy (0\.\d{4}), \.\.\.`", text)
    ranges = re.findall(r"\*\*(\d+)-(\d+) s\*\*", text)
    return {"accuracy": accuracy and accuracy.group(1), "ranges": [(int(a), int(b)) for a, b in ranges]}


def check_training() -> list[str]:
    """Train LeNet-5 as the README's first command does; compare with what the docs quote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = run_archspec(["train", "architectures/lenet5.yaml", "-o", tmp, "--verbose", "0"])
    accuracy = re.search(r"^test: .*accuracy (\d\.\d{4})", out, re.M).group(1)
    seconds = float(re.search(r"^completed in ([\d.]+) s", out, re.M).group(1))
    print(f"LeNet-5: test accuracy {accuracy}, completed in {seconds:.1f} s")
    problems = []
    cpu = _cpu()
    for doc in TRAIN_DOCS:
        quoted = quoted_main_job(doc.read_text())
        if quoted["accuracy"] != accuracy:
            problems.append(f"{doc.relative_to(ROOT)} quotes test accuracy {quoted['accuracy']}, the run printed "
                            f"{accuracy}")
        if "AMD EPYC" in cpu and quoted["ranges"]:
            low, high = quoted["ranges"][0]
            if not low <= seconds <= high:
                problems.append(f"{doc.relative_to(ROOT)}: `completed in` {low}-{high} s on an AMD EPYC, this run "
                                f"{seconds:.1f} s (a loaded machine is slower: run again before widening the range)")
    if "AMD EPYC" not in cpu:
        print(f"(this CPU, {cpu or 'unknown'}, has no range of its own in the docs: compare by hand)")
    return problems


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    parser.add_argument("--train", action="store_true", help="also train LeNet-5 and compare (tens of seconds)")
    args = parser.parse_args(argv)
    problems = check_summary(args.write)
    if args.train:
        problems += check_training()
    for problem in problems:
        print(problem)
    print("ok" if not problems else f"{len(problems)} stale figure(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
