"""Shared fixtures: where the real data lives, an isolated cache per test session, the installed wheel."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from mujo_edge.bundle import Manifest
from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.normalise import Normaliser
from mujo_edge.recording import Recording
from mujo_edge.windows import Windows, concat, window_recording

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# What the wheel is built from: the files pyproject.toml names (package-dir roots, readme, license).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "mujo_edge", "training", "export", "firmware_bridge")


# Optional packages the CI installs on purpose (the `ble` and `sim` extras): a test module that skips because
# one is missing would hide the whole bridge suite, so under CI (the `CI` variable set, as .ci/run and every
# hosted CI do) such a skip is turned into a failure. Locally it stays a skip with its reason.
REQUIRED_IN_CI = ("bleak", "bumble")
_MISSING_IMPORT = re.compile(r"could not import '([\w.]+)'")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing_required(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    """The required package whose absence made `report` skip, or None."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    match = _MISSING_IMPORT.search(str(report.longrepr[2]))
    if match is None or match.group(1).split(".")[0] not in REQUIRED_IN_CI:
        return None
    return match.group(1)


def _fail_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    name = _missing_required(report) if _in_ci() else None
    if name is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        report.outcome = "failed"
        report.longrepr = f"CI: {name} is required here (install the ble and sim extras), but: {reason}"


CollectHook = Generator[None, pytest.CollectReport, pytest.CollectReport]
TestHook = Generator[None, pytest.TestReport, pytest.TestReport]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> CollectHook:
    report = yield
    _fail_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> TestHook:
    report = yield
    _fail_in_ci(report)
    return report


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the checkout; the real-data tests need it (CI always has it)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data not found at {SHARED_DATA}: clone the project next to shared/")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the user's real window cache from tests."""
    monkeypatch.setenv("MUJO_EDGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """Import a script by its path relative to the repo (examples/, benchmarks/ are not packages)."""

    def load(relative: str) -> ModuleType:
        path = REPO / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def _run_quiet(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mujo-edge wheel, built once per session from a clean copy of the sources.

    A copy, because setuptools' build/ folder keeps deleted modules and would ship them again; no build
    isolation, because the build backend (setuptools) is already installed and CI may be offline.
    """
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in WHEEL_SOURCES:
        item = REPO / name
        if item.is_dir():
            shutil.copytree(item, src / name, ignore=ignore)
        else:
            shutil.copy2(item, src / name)
    pip_wheel = ["pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "dist"), str(src)]
    _run_quiet([sys.executable, "-m", *pip_wheel], cwd=work)
    (wheel,) = (work / "dist").glob("mujo_edge-*.whl")
    return wheel


@pytest.fixture(scope="session")
def installed_tree(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the wheel installed without its dependencies (`pip install --target`).

    Put it first on PYTHONPATH to see the package as a user does: training/, export/ and firmware_bridge/
    really inside mujo_edge/, which tools that read the source tree (grimp, mypy) cannot see.
    """
    target = tmp_path_factory.mktemp("site")
    # A PIP_TARGET or PIP_PREFIX from the caller's environment would fight --target.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    pip_install = ["pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(built_wheel)]
    _run_quiet([sys.executable, "-m", *pip_install], cwd=target, env=env)
    return target


def toy_windows(subjects: Sequence[str] = ("1", "2", "3", "4", "5"), seed: int = 0) -> Windows:
    """Three classes (sines at 1, 2 and 4 Hz on x; y and z noise); 30 s per class per subject."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in subjects:
        t = np.arange(3 * 1500) / 50
        labels = np.repeat(np.arange(3, dtype=np.int16), 1500)
        freq = np.array([1.0, 2.0, 4.0])[labels]
        x = np.stack([np.sin(2 * np.pi * freq * t), rng.normal(size=len(t)), rng.normal(size=len(t))], axis=1)
        rec = Recording.create(
            t,
            x.astype(np.float32) + 0.2 * rng.normal(size=x.shape).astype(np.float32),
            triaxial("wrist", "acc", "m/s^2"),
            subject=s,
            source="toy",
            classes=("a", "b", "c"),
            labels=labels,
        )
        parts.append(window_recording(rec, WindowConfig()))
    return concat(parts)


@pytest.fixture(scope="session")
def make_toy() -> Callable[..., Windows]:
    """`make_toy(subjects=..., seed=...)` -> labelled toy windows (training and export tests)."""
    return toy_windows


def foreign_mapping(label: str = "act") -> str:
    """The `mujo-csv.toml` of another app's files `t,ax,ay,az,epoch (ms),<label>` named `<subject>_...csv`:
    datetime times, g units, an extra time column ignored, the subject from the file name."""
    return f"""
[time]
column = "t"
unit = "datetime"

[channels]
ax = "wrist_acc_x[g]"
ay = "wrist_acc_y[g]"
az = "wrist_acc_z[g]"

[columns]
label = "{label}"
ignore = ["epoch (ms)"]
subject_from_name = '^(?P<subject>[a-z]+)_'
"""


@pytest.fixture(scope="session")
def make_mapping() -> Callable[..., str]:
    """`make_mapping(label="act")` -> the text of a foreign layout's mapping file (see `foreign_mapping`)."""
    return foreign_mapping


def minimal_manifest(artifacts: Sequence[Any] = (), training: Mapping[str, Any] | None = None) -> Manifest:
    """A valid classifier manifest over wrist acc with labels a and b (bundle and runtime tests)."""
    channels = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
    return Manifest(
        channels=channels,
        units=("m/s^2",) * 3,
        window=WindowConfig(),
        normaliser=Normaliser(channels, (0.0, 0.0, 9.8), (1.0, 2.0, 3.0)),
        labels=("a", "b"),
        label_texts={"a": "activity a", "b": "activity b"},
        artifacts=tuple(artifacts),
        training=dict(training or {}),
    )


@pytest.fixture(scope="session")
def make_manifest() -> Callable[..., Manifest]:
    """`make_manifest(artifacts=(), training=None)` -> a valid manifest (see `minimal_manifest`)."""
    return minimal_manifest


def toy_classifier(
    toy: Windows, arch: Any, config: Any, split: tuple[Sequence[str], Sequence[str], Sequence[str]]
) -> Any:
    """A classifier checkpoint of `arch` fine-tuned with `config` on toy windows (classes a, b, c = slow, medium,
    fast) split (train, val, test) by subject: what export tests export."""
    from mujo_edge.training.finetune import classifier_checkpoint, finetune

    train, val, test = split
    result = finetune(toy.for_subjects(train), toy.for_subjects(val), toy.for_subjects(test), config, arch=arch)
    return classifier_checkpoint(
        result,
        channels=toy.channels,
        window=toy.config.to_dict(),
        dataset="toy",
        label_texts={"a": "slow", "b": "medium", "c": "fast"},
        config=config,
        split={"train": list(train), "val": list(val), "test": list(test)},
        pretrained_from=None,
    )


@pytest.fixture(scope="session")
def make_toy_classifier() -> Callable[..., Any]:
    """`make_toy_classifier(toy, arch, config, (train, val, test))` (see `toy_classifier`)."""
    return toy_classifier
