"""SPAR-watch from the `seglearn` wheel, for machines without `../shared/data` (the `demo` extra).

seglearn 1.2.5 ships the same 140 recordings as `seglearn/data/watch_dataset.npy`, a pickled dict. We never
unpickle a file blindly: the file must have the sha256 of the published wheel, and the unpickler only
resolves the four globals a numpy array pickle needs, so nothing else can execute. The dict is rewritten
once into the `spar_watch.npz` layout under the cache folder, and the ordinary `spar_watch` loader reads it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.cache import default_cache_dir
from mujo_edge.data.base import RootFallback
from mujo_edge.data.spar_watch import CODES, FILE
from mujo_edge.errors import DataNotFoundError, LayoutError

PACKAGE = "seglearn"
RELATIVE = Path("data") / "watch_dataset.npy"
SHA256 = "eb122f23cdf06ef6bd6c6c5312958ec5cf9d038e2e6d457b8081662c75a42537"  # seglearn 1.2.5
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return super().find_class(module, name)


def seglearn_file() -> Path | None:
    """The watch dataset inside an installed seglearn, or None when seglearn is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / RELATIVE
    return path if path.is_file() else None


def read_watch_pickle(path: Path) -> dict[str, Any]:
    """The seglearn dict (X, y, subject, side, X_labels, y_labels) after the hash and allow-list checks."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise LayoutError(
            f"sha256 {digest[:12]}... is not seglearn 1.2.5's watch dataset; refusing to unpickle", path=path
        )
    from numpy.lib import format as npy

    with path.open("rb") as f:
        npy.read_magic(f)
        npy.read_array_header_1_0(f)
        try:
            arr = _ArraysOnly(f).load()
        except pickle.UnpicklingError as e:
            raise LayoutError(f"unexpected content: {e}", path=path) from None
    data = arr.item() if isinstance(arr, np.ndarray) else arr
    if not isinstance(data, dict) or not {"X", "y", "subject", "side", "y_labels"} <= set(data):
        raise LayoutError("not the seglearn watch dict", path=path)
    return data


def spar_from_seglearn(cache_dir: Path | None = None) -> Path:
    """A folder holding `spar_watch.npz` converted from seglearn (made once, atomically); DataNotFoundError
    when seglearn is not installed."""
    src = seglearn_file()
    if src is None:
        raise DataNotFoundError(
            "SPAR-watch data not found: put the shared data beside the project "
            "(../shared/data/spar_watch) or install the demo extra (pip install "
            "'mujo-edge[demo]', which brings seglearn's copy)",
            path=PACKAGE,
        )
    folder = (cache_dir or default_cache_dir()) / "spar_watch_seglearn"
    target = folder / FILE
    if target.is_file():
        return folder
    d = read_watch_pickle(src)
    if tuple(d["y_labels"]) != CODES:
        raise LayoutError(f"exercise codes {d['y_labels']}, expected {list(CODES)}", path=src, field="y_labels")
    lengths = [len(x) for x in d["X"]]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{FILE}.{os.getpid()}.tmp.npz"
    np.savez(
        tmp,
        samples=np.concatenate(d["X"]).astype(np.float32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        exercise=np.asarray(d["y"], np.int8),
        subject=np.asarray(d["subject"], np.int8),
        side=np.asarray(d["side"], np.int8),
        channels=np.asarray(d["X_labels"], dtype="<U2"),
        exercises=np.asarray(CODES),
    )
    os.replace(tmp, target)
    return folder


# The demo's fallback when no data folder holds SPAR-watch: `locate_root(spec, fallback=SEGLEARN_FALLBACK)`.
SEGLEARN_FALLBACK = RootFallback("seglearn 1.2.5 (the demo extra)", spar_from_seglearn)
