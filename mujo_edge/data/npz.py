"""Reading `.npz` archives safely: no pickles, every missing key or wrong shape named."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from mujo_edge.errors import DataNotFoundError, LayoutError


def read_npz(path: Path, shapes: dict[str, int]) -> dict[str, np.ndarray]:
    """Arrays of `path` for the keys in `shapes` (key -> expected ndim), loaded with allow_pickle=False."""
    if not path.is_file():
        raise DataNotFoundError("file not found", path=path)
    if not zipfile.is_zipfile(path):  # np.load would otherwise try to read it as a pickle
        raise LayoutError("not a readable .npz archive", path=path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in shapes if k not in z.files]
            if missing:
                raise LayoutError(f"missing arrays {missing} (has {sorted(z.files)})", path=path, field=missing[0])
            out = {k: z[k] for k in shapes}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise LayoutError(f"not a readable .npz archive ({e})", path=path) from None
    except ValueError as e:  # object arrays need pickle, which we never allow
        raise LayoutError(f"unsupported array content ({e})", path=path) from None
    for k, ndim in shapes.items():
        if out[k].ndim != ndim:
            raise LayoutError(f"array has {out[k].ndim} dimensions, expected {ndim}", path=path, field=k)
    return out
