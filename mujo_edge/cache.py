"""On-disk cache of prepared windows, so repeated runs don't re-parse CSVs or re-resample.

An entry is one `.npz` (arrays only, loaded with allow_pickle=False) plus JSON metadata inside it, keyed by a
hash of everything that determines the windows: loader name and version, the files read (path and a BLAKE2b
hash of their bytes), the channel selection and the window config. Keying on content, not on size and
modification time, means an edit is always seen, even one that keeps both (an editor or `touch -r`
restoring the time, a copy preserving it, a clock without sub-second resolution). Hashing costs a read of
the files (about 1 GB/s), far less than parsing them. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mujo_edge.config import WindowConfig
from mujo_edge.windows import Windows

log = logging.getLogger(__name__)

CACHE_ENV = "MUJO_EDGE_CACHE"
# 2: content-keyed entries, and the gap count stored with the windows
FORMAT_VERSION = 2


def default_cache_dir() -> Path:
    """$MUJO_EDGE_CACHE, else $XDG_CACHE_HOME/mujo-edge, else ~/.cache/mujo-edge."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mujo-edge"


def content_hash(path: Path) -> str:
    """BLAKE2b (128 bit) of the file's bytes, read in chunks: fast, and no edit keeps it."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def cache_key(parts: Mapping[str, Any], hashed: Sequence[tuple[Path, str]]) -> str:
    """sha256 over the JSON of `parts` and the (resolved path, content hash) of each file (see `content_hash`)."""
    contents = [[str(f.resolve()), digest] for f, digest in sorted(hashed)]
    blob = json.dumps({"format": FORMAT_VERSION, "parts": parts, "files": contents}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def save_windows(path: Path, windows: Windows, extra: Mapping[str, Any]) -> None:
    meta = {
        "channels": list(windows.channels),
        "classes": list(windows.classes),
        "config": windows.config.to_dict(),
        "dropped": dict(windows.dropped),
        "gaps": windows.gaps,
        "extra": dict(extra),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                x=windows.x,
                y=windows.y,
                subject=windows.subject.astype(str),
                recording=windows.recording.astype(str),
                start=windows.start,
                meta=np.asarray(json.dumps(meta)),
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_windows(path: Path) -> tuple[Windows, dict[str, Any]] | None:
    """The cached windows and their extra metadata, or None if the entry is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            windows = Windows(
                x=z["x"],
                y=z["y"],
                subject=z["subject"],
                recording=z["recording"],
                start=z["start"],
                channels=tuple(meta["channels"]),
                classes=tuple(meta["classes"]),
                config=WindowConfig.from_dict(meta["config"]),
                dropped=MappingProxyType(dict(meta["dropped"])),
                gaps=int(meta["gaps"]),
            )
        return windows, meta["extra"]
    except Exception as e:  # a corrupt cache entry is rebuilt, never fatal
        log.warning("ignoring unreadable cache entry %s (%s)", path, e)
        return None
