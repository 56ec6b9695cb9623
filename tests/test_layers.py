"""The layers of ARCHITECTURE.md, checked by import-linter against the installed wheel.

The contracts live in pyproject.toml ([tool.importlinter]). grimp reads every import statement, including
imports inside functions; it cannot follow package-dir mappings, so it reads the wheel installed with
`pip install --target` (the `installed_tree` fixture) instead of the source tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
CONTRACTS: list[dict[str, object]] = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"][
    "contracts"
]

pytest.importorskip("importlinter", reason="import-linter comes with the dev extra")

# Runs lint-imports' own command in a child interpreter (its console script may not be on PATH).
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the package installed in `site`, with the repo's contracts; never reads a cache."""
    # Only `site` on the path: the repo root (cwd of pytest) would let grimp find the source tree instead.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(site)
    env["COLUMNS"] = "400"  # rich wraps long contract names at the terminal width; keep one per line
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo", str(PYPROJECT)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_contract_is_kept(installed_tree: Path, tmp_path: Path) -> None:
    proc = lint_imports(installed_tree, tmp_path)
    assert proc.returncode == 0, f"import contracts broken:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in proc.stdout, proc.stdout


def _first_module(package: Path) -> Path:
    """Some module of `package` other than __init__, so the probe does not depend on one file's name."""
    return min(p for p in package.glob("*.py") if p.stem != "__init__")


def _dotted(path: Path, site: Path) -> str:
    return ".".join(path.relative_to(site).with_suffix("").parts)


def test_a_bad_import_breaks_the_contracts(installed_tree: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(installed_tree / "mujo_edge", site / "mujo_edge")
    pkg = site / "mujo_edge"
    # Each probe is an import inside a function body: the form a review misses and grimp still sees.
    probes = {
        _first_module(pkg / "runtime"): ("import torch", "torch"),
        _first_module(pkg / "training"): ("from mujo_edge.export import pipeline", "mujo_edge.export"),
        _first_module(pkg / "firmware_bridge"): ("from mujo_edge.runtime import engines", "mujo_edge.runtime"),
        pkg / "metrics.py": ("from mujo_edge.cli import app", "mujo_edge.cli"),
    }
    for module, (statement, _) in probes.items():
        with module.open("a", encoding="utf-8") as f:
            f.write(f"\n\ndef _layer_probe() -> None:\n    {statement}  # noqa: F401\n")

    proc = lint_imports(site, tmp_path)
    out = proc.stdout
    assert proc.returncode != 0, out
    for module, (_, imported) in probes.items():
        importer = re.escape(_dotted(module, site))
        line = rf"^-\s+{importer} -> {re.escape(imported)}\b"
        assert re.search(line, out, re.MULTILINE), f"{importer} -> {imported} not named:\n{out}"
    # Every contract in pyproject.toml is shown to bite by one of the probes.
    for contract in CONTRACTS:
        assert re.search(rf"^{re.escape(str(contract['name']))}\s+BROKEN$", out, re.MULTILINE), (
            f"contract {contract['id']!r} was not broken by the probes:\n{out}"
        )
