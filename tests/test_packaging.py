"""Packaging and layout: the wheel is complete, the runtime never needs torch, the repo keeps its shape.

Module lists are computed from the source tree and the pyproject mapping, never hard-coded, so a new
module (mujo_edge.runtime..., firmware_bridge...) is covered the day it is added.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS.get("package-dir", {})
PACKAGES: list[str] = SETUPTOOLS.get("packages", [])

# Source folders that hold importable code, and the package each one is imported as.
SOURCE_ROOTS = {
    "mujo_edge": "mujo_edge",
    "training": "mujo_edge.training",
    "export": "mujo_edge.export",
    "firmware_bridge": "mujo_edge.firmware_bridge",
}
TORCH_PACKAGES = ("mujo_edge.training", "mujo_edge.export")
# Imported by nothing that `mujo-edge --help` needs (ARCHITECTURE: heavy imports live in command bodies).
HEAVY_MODULES = (
    "torch",
    "executorch",
    "tensorflow",
    "onnx",
    "onnxruntime",
    "onnx2tf",
    "sentence_transformers",
    "transformers",
    "ai_edge_litert",
    "matplotlib",
    "sklearn",
)
ARTEFACTS = ("build", "dist", ".pytest_cache", ".hypothesis", "__pycache__", ".mypy_cache", ".ruff_cache")

# Runs in a child interpreter: imports every module below the given roots, one by one, so an
# ImportError is never swallowed (pkgutil.walk_packages would swallow it), and prints name -> file.
WALK = r"""
import importlib, json, pkgutil, sys

def walk(name, skip, seen):
    if name in seen or any(name == s or name.startswith(s + ".") for s in skip):
        return
    module = importlib.import_module(name)
    seen[name] = getattr(module, "__file__", None)
    for info in pkgutil.iter_modules(getattr(module, "__path__", None) or []):
        if info.name == "__main__":  # importing it would run the CLI
            continue
        full = name + "." + info.name
        if info.ispkg:
            walk(full, skip, seen)
        elif full not in seen and not any(full.startswith(s + ".") for s in skip):
            seen[full] = importlib.import_module(full).__file__

def walk_all(roots, skip=()):
    seen = {}
    for root in roots:
        walk(root, tuple(skip), seen)
    return seen
"""


def _source_dir(package: str) -> Path:
    """Directory setuptools reads `package` from: the longest package-dir prefix wins."""
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in PACKAGE_DIR:
            return ROOT / PACKAGE_DIR[prefix] / Path(*parts[i:])
    return ROOT / PACKAGE_DIR.get("", ".") / Path(*parts)


def _source_packages() -> dict[str, Path]:
    """Every regular package (folder with __init__.py) in the source roots -> its dotted name."""
    found: dict[str, Path] = {}
    for folder, dotted in SOURCE_ROOTS.items():
        base = ROOT / folder
        for init in sorted(base.rglob("__init__.py")):
            rel = init.parent.relative_to(base)
            found[".".join((dotted, *rel.parts))] = init.parent
    return found


def _source_modules() -> set[str]:
    """Dotted names of every module the wheel must contain, from the .py files in the source."""
    modules: set[str] = set()
    for package, path in _source_packages().items():
        modules.add(package)
        for py in path.glob("*.py"):
            if py.stem not in ("__init__", "__main__"):
                modules.add(f"{package}.{py.stem}")
    return modules


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["HF_HUB_OFFLINE"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{[a if len(a) < 120 else '<script>' for a in args]} exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc


def _mapped_roots() -> list[str]:
    return sorted({"mujo_edge", *SOURCE_ROOTS.values()})


# --------------------------------------------------------------------------------------------- layout


def test_every_source_package_is_listed_and_mapped() -> None:
    for folder, dotted in SOURCE_ROOTS.items():
        assert _source_dir(dotted) == ROOT / folder, f"package-dir must map {dotted} to {folder}/"

    source = _source_packages()
    assert set(SOURCE_ROOTS.values()) <= set(source), "a source root lacks __init__.py"
    missing = sorted(set(source) - set(PACKAGES))
    assert not missing, f"packages with __init__.py not listed in [tool.setuptools] packages: {missing}"

    for package in PACKAGES:
        where = _source_dir(package)
        assert (where / "__init__.py").is_file(), (
            f"[tool.setuptools] lists {package!r} but {where.relative_to(ROOT)}/__init__.py does not exist"
        )
        assert source.get(package) == where, f"{package} resolves to {where}, source tree says {source.get(package)}"


def test_no_code_outside_regular_packages() -> None:
    # A folder of .py files without __init__.py would be left out of the wheel silently.
    stray = [
        str(d.relative_to(ROOT))
        for folder in SOURCE_ROOTS
        for d in [ROOT / folder, *(ROOT / folder).rglob("*")]
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").exists()
    ]
    assert not stray, f"folders with .py files but no __init__.py: {stray}"


def _top_level_entries() -> set[str]:
    if (ROOT / ".git").exists() and shutil.which("git"):

        def ls(*flags: str) -> set[str]:
            out = subprocess.run(
                ["git", "ls-files", "-z", *flags], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
            return {p.split("/", 1)[0] for p in out.split("\0") if p}

        tracked = ls("--cached")
        untracked = ls("--others", "--exclude-standard")
    else:  # an unpacked sdist or a copy without git
        tracked, untracked = set(), {p.name for p in ROOT.iterdir()}
    # Untracked build artefacts are not part of the layout; tracked ones are (and fail the test).
    untracked = {e for e in untracked if e not in ARTEFACTS and not e.endswith(".egg-info")}
    return tracked | untracked


def test_top_level_layout() -> None:
    required = {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        ".ci",
        "mujo_edge",
        "training",
        "export",
        "firmware_bridge",
        "examples",
        "tests",
        "benchmarks",
    }
    entries = _top_level_entries()
    missing = sorted(required - entries)
    extra = sorted(e for e in entries - required if not e.startswith("."))
    assert not missing, f"missing at the repo top level: {missing}"
    assert not extra, f"unexpected at the repo top level: {extra}"


# ------------------------------------------------------------------------------------ torch-free core


def test_runtime_and_bridge_import_without_torch() -> None:
    script = (
        WALK
        + r"""
sys.modules["torch"] = None  # any `import torch` now raises ImportError
roots, skip = json.loads(sys.argv[1]), json.loads(sys.argv[2])
seen = walk_all(roots, skip)

import typer.testing
from click import Group
from mujo_edge.cli import app, main
assert callable(main), "console entry mujo_edge.cli:main is not callable"
command = typer.main.get_command(app)
runner = typer.testing.CliRunner()

def paths(cmd, prefix=()):
    yield prefix
    if isinstance(cmd, Group):
        for name, sub in cmd.commands.items():
            if not getattr(sub, "hidden", False):
                yield from paths(sub, prefix + (name,))

helped = []
for path in paths(command):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (path, result.exit_code, result.output, repr(result.exception))
    assert "Usage" in result.output, (path, result.output)
    helped.append(" ".join(path))
print(json.dumps({"modules": seen, "helped": helped}))
"""
    )
    proc = _run([sys.executable, "-c", script, json.dumps(_mapped_roots()), json.dumps(TORCH_PACKAGES)], cwd=ROOT)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {m for m in _source_modules() if not m.startswith(tuple(p + "." for p in TORCH_PACKAGES))}
    expected -= set(TORCH_PACKAGES)
    assert set(out["modules"]) == expected
    # An editable install of another checkout would answer for the mapped sub-packages.
    foreign = {m: f for m, f in out["modules"].items() if not Path(f).resolve().is_relative_to(ROOT)}
    assert not foreign, f"imported from outside {ROOT} (stale install? run `pip install -e .`): {foreign}"
    assert "mujo_edge.cli" in out["modules"] and "" in out["helped"]


def test_cli_help_imports_nothing_heavy() -> None:
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from mujo_edge.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"print(json.dumps(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)))\n"
    )
    proc = _run([sys.executable, "-c", script], cwd=ROOT)
    heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == [], f"`mujo-edge --help` imported {heavy}; move these imports into the command functions"


# -------------------------------------------------------------------------------------- wheel install


def _copy_source(dest: Path) -> Path:
    # Build from a clean copy: setuptools' build/ keeps deleted modules and would ship them again.
    ignore = shutil.ignore_patterns(".git", *ARTEFACTS, "*.egg-info", "*.pyc")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


@pytest.mark.slow
def test_wheel_installs_and_imports_everything(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="the `build` package comes with the dev extra")
    src = _copy_source(tmp_path / "src")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)], cwd=tmp_path, timeout=600)
    (wheel,) = dist.glob("mujo_edge-*.whl")

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"mujo_edge-{PYPROJECT['project']['version']}.dist-info/METADATA").decode()
    assert "mujo_edge/py.typed" in names
    for data in (
        "mujo_edge/default_model/mujo.json",
        "mujo_edge/default_model/model-int8.tflite",
        "mujo_edge/firmware_bridge/watch_apps/banglejs_stream.js",
        "mujo_edge/firmware_bridge/PROFILE.md",
        "mujo_edge/data/label_texts.toml",
    ):
        assert data in names, f"{data} missing from the wheel (package data)"
    # setuptools only warns when README.md is missing; the wheel then ships an empty description.
    readme = (ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").is_file() else ""
    body = metadata.partition("\n\n")[2]
    assert readme.strip() and body.strip() == readme.strip(), "README.md is not the wheel's long description"
    for package, path in _source_packages().items():
        for f in path.glob("*.py"):
            arc = "/".join(package.split(".")) + "/" + f.name
            assert arc in names, f"{arc} missing from the wheel"

    # Heavy deps (numpy, scipy, typer, rich, torch, ...) come from this interpreter's site-packages;
    # mujo-edge itself only from the wheel. The outer editable install's finder is appended to
    # sys.meta_path, so it could fill in a sub-package the wheel lacks: the child removes it, and
    # every imported module must come from inside the new venv.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True, symlinks=True).create(env_dir)
    vpy = env_dir / "bin" / "python"
    purelib = _run([str(vpy), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp_path)
    site = Path(purelib.stdout.strip()).resolve()
    if sys.prefix != sys.base_prefix:
        # Running inside a venv: "system" site-packages would be the base Python's, not this env's.
        # Chain this env's site dirs after the new venv's own (its .pth files run, as they would there).
        outer = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
        lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in outer)
        (site / "zz_outer_env.pth").write_text(lines, encoding="utf-8")
    _run([str(vpy), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path)

    script = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path"
        " if not getattr(f, '__module__', '').startswith('__editable__')]\n"
        + WALK
        + "print(json.dumps(walk_all(json.loads(sys.argv[1]))))\n"
    )
    proc = _run([str(vpy), "-I", "-c", script, json.dumps(_mapped_roots())], cwd=tmp_path, timeout=300)
    files: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])

    outside = {m: f for m, f in files.items() if f is None or not Path(f).resolve().is_relative_to(site)}
    assert not outside, f"modules not loaded from the wheel in {site}: {outside}"
    assert set(files) == _source_modules(), (
        f"missing: {sorted(_source_modules() - set(files))}, unexpected: {sorted(set(files) - _source_modules())}"
    )
    assert (site / "mujo_edge" / "py.typed").is_file()

    exe = env_dir / "bin" / "mujo-edge"
    assert exe.is_file(), "console script mujo-edge not installed"
    help_ = _run([str(exe), "--help"], cwd=tmp_path)
    assert "Usage" in help_.stdout
    version = _run([str(exe), "--version"], cwd=tmp_path)
    assert PYPROJECT["project"]["version"] in version.stdout
