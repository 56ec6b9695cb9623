"""A missing bleak or bumble fails the bridge suite under CI and only skips it locally (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# Each module blocks a package (None in sys.modules makes its import fail) and skips on it, as the bridge
# tests do with pytest.importorskip: once at import time, once inside a test.
PROBES = {
    "test_probe_module.py": (
        "import sys\nimport pytest\n"
        "sys.modules['bumble'] = None\n"
        "pytest.importorskip('bumble')\n\n\n"
        "def test_never_runs() -> None:\n    pass\n"
    ),
    "test_probe_inside.py": (
        "import sys\nimport pytest\n"
        "sys.modules['bleak'] = None\n\n\n"
        "def test_needs_bleak() -> None:\n    pytest.importorskip('bleak')\n\n\n"
        "def test_needs_something_optional() -> None:\n    pytest.importorskip('mujo_edge_no_such_package')\n"
    ),
}


def run_probes(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    for name, text in PROBES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(TESTS)  # the suite's conftest, loaded as a plugin below
    args = ["-p", "conftest", "-p", "no:cacheprovider", "-q", "-rA", "--continue-on-collection-errors", *PROBES]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_locally_a_missing_package_skips_with_its_reason(tmp_path: Path) -> None:
    proc = run_probes(tmp_path, ci=None)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "3 skipped" in proc.stdout and "could not import 'bumble'" in proc.stdout, proc.stdout[-3000:]


def test_under_ci_a_missing_bleak_or_bumble_fails(tmp_path: Path) -> None:
    proc = run_probes(tmp_path, ci="true")  # what hosted CI sets
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert "ERROR test_probe_module.py - CI: bumble is required here" in out, out[-3000:]
    assert "FAILED test_probe_inside.py::test_needs_bleak - CI: bleak is required here" in out, out[-3000:]
    # Other optional packages keep their skip.
    assert "1 failed, 1 skipped, 1 error" in out, out[-3000:]
