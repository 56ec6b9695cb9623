"""What every dataset loader provides, and how a dataset's root folder is found.

A loader splits its dataset into `parts` (usually files) so progress can be reported and a bad file named,
then `read`s one part into validated `Recording`s in SI units.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
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
        """Files whose size and mtime key the window cache (default: every part that is a file)."""
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


def resolve_root(spec: DatasetSpec, root: str | Path | None) -> Path:
    """`root` if given, else $MUJO_EDGE_DATA/<folder>, else ../shared/data/<folder>; must exist."""
    if root is not None:
        path = Path(root).expanduser()
    elif os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV]).expanduser() / spec.folder
    else:
        path = SHARED_DATA / spec.folder
        if not path.exists():
            raise DataNotFoundError(f"no root given for dataset '{spec.name}': pass --root PATH or set {DATA_ENV}",
                                    path=path)
    if not path.exists():
        raise DataNotFoundError(f"dataset '{spec.name}' not found", path=path)
    return path
