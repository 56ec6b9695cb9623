"""mujo-edge: on-device wearable exercise recognition (MuJo pre-training, int8 export, live BLE runtime).

The core (this package) needs only numpy and scipy; torch lives in `mujo_edge.training` and
`mujo_edge.export`, which the runtime never imports.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mujo-edge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
