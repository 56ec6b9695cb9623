"""The embedded default bundle: an int8 TFLite SPAR-watch exercise classifier (wrist accelerometer, 7 shoulder
exercises), pre-trained with MuJo leaving SPAR out and fine-tuned on SPAR subjects. Its `mujo.json` carries the
5-fold subject-wise cross-validated macro-F1 and the subjects it never saw (`training.split.test`), which
`mujo-edge demo` replays. Rebuilt with `python -m mujo_edge.export.release_default` (see that module).
"""

from __future__ import annotations

from pathlib import Path

from mujo_edge.bundle import MANIFEST
from mujo_edge.errors import DataNotFoundError

PATH = Path(__file__).resolve().parent


def bundle_path() -> Path:
    """The folder of the embedded bundle; DataNotFoundError when this install lacks it."""
    if not (PATH / MANIFEST).is_file():
        raise DataNotFoundError(
            "the embedded default bundle is missing from this install (reinstall mujo-edge)", path=PATH
        )
    return PATH
