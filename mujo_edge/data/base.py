"""What every dataset loader provides, and how a dataset's root folder is found.

A loader splits its dataset into `parts` (usually files) so progress can be reported and a bad file named,
then `read`s one part into validated `Recording`s in SI units.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from mujo_edge.channels import ChannelSelection
from mujo_edge.errors import DataNotFoundError, LayoutError
from mujo_edge.recording import Recording

# Where the project's shared real data lives relative to a checkout; users point --root anywhere else.
DATA_ENV = "MUJO_EDGE_DATA"
SHARED_DATA = Path("..") / "shared" / "data"


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset, shown by `mujo-edge data list` and stored in model bundles.

    classes: activity classes in label-index order. null_classes: classes that become NULL in the
    "with NULL" protocol (e.g. HAPT's postural transitions); samples with no label (-1) always are.
    folder: the dataset's folder name under $MUJO_EDGE_DATA or ../shared/data.
    version: bump whenever the loader's output changes, so cached windows are rebuilt.
    """

    name: str
    title: str
    device: str
    placements: tuple[str, ...]
    sensors: tuple[str, ...]
    native_rate: str
    subjects: str
    classes: tuple[str, ...]
    citation: str
    licence: str
    folder: str
    version: int = 1
    # False: the licence forbids redistribution (research use only), so nothing trained on it may ship
    redistributable: bool = True
    null_classes: tuple[str, ...] = ()
    has_null: bool = False
    notes: str = ""
    class_titles: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class DatasetLoader(ABC):
    """One dataset format. Subclasses set `spec` and implement `parts` and `read`."""

    spec: DatasetSpec

    @abstractmethod
    def parts(self, root: Path) -> list[str]:
        """Units of work under `root` (file paths relative to root, or ids), sorted.

        Raises DataNotFoundError / LayoutError naming what is missing when `root` is not this dataset.
        """

    @abstractmethod
    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        """The recordings in one part, in SI units, restricted to `selection` where that saves work."""

    def fingerprint_files(self, root: Path) -> list[Path]:
        """Files whose content keys the window cache (default: every part that is a file)."""
        return [root / p for p in self.parts(root) if (root / p).is_file()]


def part_path(root: Path, part: str) -> Path:
    """The file a part names: parts are paths relative to root, "" meaning root is the file itself."""
    return root / part if part else root


def single_file_parts(root: Path, file_name: str) -> list[str]:
    """Parts of a dataset published as one file: `root` is that file, or the folder holding it."""
    if root.is_file():
        return [""]
    if not (root / file_name).is_file():
        raise LayoutError(f"expected {file_name} in this folder", path=root)
    return [file_name]


@dataclass(frozen=True)
class RootFallback:
    """Where a dataset comes from when no folder holds it: `locate()` returns the root (e.g. SPAR-watch
    rebuilt from the seglearn wheel), `description` names that source in messages instead of its path."""

    description: str
    locate: Callable[[], Path]


@dataclass(frozen=True)
class DataRoot:
    """A resolved dataset root: `path`, and `source`, how to name it to a user (the path, or a fallback's
    description)."""

    path: Path
    source: str


def data_home(data_dir: str | Path | None = None) -> Path:
    """The folder holding every dataset's folder: `data_dir` if given, else $MUJO_EDGE_DATA, else ../shared/data
    (not checked: callers look for one dataset in it)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return SHARED_DATA


def locate_root(
    spec: DatasetSpec,
    root: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    fallback: RootFallback | None = None,
) -> DataRoot:
    """The one rule for where dataset `spec` lives, checked to exist.

    1. `root`, the dataset's own folder or file (`--root`), if given;
    2. else `<data_dir>/<spec.folder>` when `data_dir` (a folder of datasets, `--data`) is given;
    3. else $MUJO_EDGE_DATA/<folder>, else ../shared/data/<folder>;
    4. when no folder of 2-3 exists and a `fallback` is given, the fallback's root.
    DataNotFoundError names the path looked at.
    """
    if root is not None:
        path = Path(root).expanduser()
        if not path.exists():
            raise DataNotFoundError(f"dataset '{spec.name}' not found", path=path)
        return DataRoot(path, str(path))
    path = data_home(data_dir) / spec.folder
    if not path.exists() and fallback is not None:
        return DataRoot(fallback.locate(), fallback.description)
    if not path.exists():
        origin = _home_origin(data_dir)
        if data_dir is None and not os.environ.get(DATA_ENV):
            found = f"no root given for dataset '{spec.name}', and none in {origin}"
        else:
            found = f"dataset '{spec.name}' not found in {origin}"
        raise DataNotFoundError(f"{found}; {_where_to_point()}", path=path)
    return DataRoot(path, str(path))


def _home_origin(data_dir: str | Path | None) -> str:
    """Which rule chose the folder of datasets: a user who never passed one must learn it is a default, and that
    the default is relative to where the command runs (a run from another folder finds nothing)."""
    home = data_home(data_dir)
    env = os.environ.get(DATA_ENV)
    if data_dir is None and env:
        return f"{home} (${DATA_ENV})"
    if (data_dir is None or Path(data_dir) == SHARED_DATA) and home == SHARED_DATA:
        return f"{home} (the default, relative to the current folder {Path.cwd()})"
    if env and Path(env).expanduser() == home:  # a caller that resolved data_home() itself
        return f"{home} (${DATA_ENV})"
    return f"{home} (--data)"


def _where_to_point() -> str:
    return (
        f"pass --data FOLDER (the folder holding the datasets' folders) or set {DATA_ENV}=FOLDER; "
        "commands on one dataset also take --root PATH (that dataset's own folder or file)"
    )


def resolve_root(
    spec: DatasetSpec,
    root: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    fallback: RootFallback | None = None,
) -> Path:
    """The path of `locate_root` (for callers that never need to name a fallback)."""
    return locate_root(spec, root, data_dir=data_dir, fallback=fallback).path
