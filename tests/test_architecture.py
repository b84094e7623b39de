"""The package's shape, enforced: import-linter's contracts (pyproject.toml) hold, nothing in the
library imports the root package or the CLI, and ``import archspec`` / ``from archspec import *``
import no TensorFlow (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

PACKAGE = ROOT / "archspec"


def test_import_linter_contracts_hold():
    out = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
                          "--no-cache"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in out.stdout


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield from ((node.lineno, f"{node.module}.{a.name}") for a in node.names)


def test_the_library_never_imports_the_root_package_or_the_cli():
    """Only the facade (archspec/__init__.py), __main__ and the CLI may import `archspec` itself;
    a library module names the module that defines what it uses."""
    submodules = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    bad = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("cli", "__init__.py", "__main__.py"):
            continue
        for line, name in _imports(path):
            parts = name.split(".")
            if name == "archspec" or (parts[0] == "archspec" and len(parts) == 2 and parts[1] not in submodules):
                bad.append(f"{rel}:{line} imports {name}")
            if parts[:2] == ["archspec", "cli"]:
                bad.append(f"{rel}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_import_star_imports_no_tensorflow():
    script = ("import sys\nfrom archspec import *\nimport archspec\n"
              "assert callable(fit) and callable(search) and callable(build) and callable(load)\n"
              "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
