"""Which data a model was trained on: the dataset, its root, every file read (path, size, content hash) and the
rate the recordings were made at.

`finetune` stores it in the classifier checkpoint, so `export` and `predict` find the data again without
`--root`, and say so when it has moved or changed since training; the bundle keeps a summary (root, file count,
a digest over the files, the recordings' rate), which `replay` and `live` compare the device's rate against.
The content hashes are the ones the window cache computes anyway (`cache.content_hash`), so recording them costs
nothing extra.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataFile:
    """One file read: `path` relative to the dataset root (the file's name when the root is the file itself)."""

    path: str
    bytes: int
    blake2b: str


@dataclass(frozen=True)
class DataCheck:
    """How the data found now differs from the recorded one (paths relative to the root)."""

    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        return not (self.missing or self.changed or self.added)

    def describe(self, limit: int = 3) -> str:
        parts = []
        for what, paths in (("missing", self.missing), ("changed", self.changed), ("new", self.added)):
            if paths:
                shown = ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
                parts.append(f"{len(paths)} {what} ({shown})")
        return "; ".join(parts) or "identical"


@dataclass(frozen=True)
class DataProvenance:
    """The data of one training run. `native_rate_hz`: (min, median, max) of the recordings' measured rates."""

    dataset: str
    root: str
    files: tuple[DataFile, ...] = ()
    native_rate_hz: tuple[float, float, float] | None = None
    subjects: tuple[str, ...] = field(default=())

    @property
    def digest(self) -> str:
        """sha256 over the sorted (path, content hash) pairs: equal digests, equal data."""
        blob = json.dumps(sorted((f.path, f.blake2b) for f in self.files))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def rate_hz(self) -> float | None:
        """The typical (median) rate the training recordings were made at."""
        return None if self.native_rate_hz is None else self.native_rate_hz[1]

    def check(self, files: Iterable[DataFile]) -> DataCheck:
        now = {f.path: f.blake2b for f in files}
        then = {f.path: f.blake2b for f in self.files}
        return DataCheck(
            missing=tuple(sorted(set(then) - set(now))),
            changed=tuple(sorted(p for p in then.keys() & now.keys() if then[p] != now[p])),
            added=tuple(sorted(set(now) - set(then))),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "root": self.root,
            "files": [[f.path, f.bytes, f.blake2b] for f in self.files],
            "native_rate_hz": None if self.native_rate_hz is None else list(self.native_rate_hz),
            "subjects": list(self.subjects),
        }

    def summary(self) -> dict[str, Any]:
        """What a bundle keeps (a file list can be long; the digest identifies it)."""
        return {
            "dataset": self.dataset,
            "root": self.root,
            "files": len(self.files),
            "bytes": sum(f.bytes for f in self.files),
            "sha256": self.digest,
            "native_rate_hz": None if self.native_rate_hz is None else list(self.native_rate_hz),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataProvenance:
        rate = data.get("native_rate_hz")
        return cls(
            dataset=str(data["dataset"]),
            root=str(data["root"]),
            files=tuple(DataFile(str(p), int(n), str(h)) for p, n, h in data.get("files", ())),
            native_rate_hz=None if rate is None else (float(rate[0]), float(rate[1]), float(rate[2])),
            subjects=tuple(str(s) for s in data.get("subjects", ())),
        )


def data_files(root: Path, hashed: Sequence[tuple[Path, str]]) -> tuple[DataFile, ...]:
    """`DataFile`s of (file, content hash) pairs read under `root` (a folder, or the file itself)."""
    out = []
    for path, digest in sorted(hashed):
        if path == root:
            rel = path.name
        elif path.is_relative_to(root):
            rel = path.relative_to(root).as_posix()
        else:  # a file the loader reads from beside the root (e.g. a mapping file)
            rel = str(path.resolve())
        out.append(DataFile(rel, path.stat().st_size, digest))
    return tuple(out)


def recorded_root(recorded: DataProvenance | None, dataset: str, root: str | Path | None = None) -> Path | None:
    """Where to read the data a model was trained on: `root` when the user gives one, else the recorded root while
    it exists, else the default folder of a registered dataset (said aloud); None without a record (callers then
    apply the usual rule, `base.locate_root`). DataNotFoundError names the recorded folder and what to pass."""
    from mujo_edge.data.base import locate_root
    from mujo_edge.data.registry import get_loader
    from mujo_edge.errors import DataError, DataNotFoundError

    if root is not None or recorded is None or recorded.dataset != dataset:
        return None if root is None else Path(root)
    if Path(recorded.root).exists():
        return Path(recorded.root)
    try:
        found = locate_root(get_loader(dataset).spec).path
    except DataError:
        raise DataNotFoundError(
            f"the {dataset} data this model was trained on is no longer where training read it; pass --root "
            "FOLDER (where it is now)",
            path=recorded.root,
        ) from None
    log.warning("%s: the data this model was trained on has moved; using %s", recorded.root, found)
    return found


def warn_if_changed(recorded: DataProvenance | None, found: DataProvenance | None) -> DataCheck | None:
    """Compare the files read now with the recorded ones; a difference is a warning (scores measured on other data
    are not the training run's), not an error: the user may have added recordings on purpose."""
    if recorded is None or found is None or recorded.dataset != found.dataset:
        return None
    check = recorded.check(found.files)
    if not check.same:
        log.warning(
            "%s: the data differs from what the model was trained on: %s; scores measured on it are not the "
            "training run's",
            found.root,
            check.describe(),
        )
    return check
