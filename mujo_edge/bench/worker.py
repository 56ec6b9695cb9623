"""One benchmark subject in its own process: `python -m mujo_edge.bench.worker '<json args>'`.

A fresh process per artifact makes peak RSS and time to first inference the artifact's own (no model or
runtime loaded before it). Prints one JSON line. Run by `mujo_edge.bench.formats.run_matrix`.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

T_START = time.perf_counter()  # before any engine import: time to first inference includes the imports

import numpy as np  # noqa: E402

from mujo_edge.bench.formats import TORCH_ROW, xnnpack_share  # noqa: E402
from mujo_edge.bench.timing import TimingConfig, measure  # noqa: E402
from mujo_edge.bundle import EngineName, read_bundle  # noqa: E402
from mujo_edge.metrics import (  # noqa: E402
    accuracy,
    dumps_strict,
    macro_f1,
)


def _load(args: dict[str, Any], threads: int) -> tuple[Any, Any]:
    """(engine with run(z), the bundle's manifest); the torch row loads the checkpoint's classifier."""
    bundle = read_bundle(args["bundle"])
    if args["artifact"] == TORCH_ROW:
        from mujo_edge.export.torch_reference import TorchReference

        return TorchReference(args["checkpoint"], threads), bundle.manifest
    from mujo_edge.runtime import Recognizer

    return Recognizer.from_bundle(bundle, artifact=args["artifact"], threads=threads).engine, bundle.manifest


def _predict(engine: Any, z: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.concatenate([engine.run(z[i : i + batch]).argmax(axis=1) for i in range(0, len(z), batch)])


def main(argv: list[str] | None = None) -> int:
    args = json.loads((argv or sys.argv[1:])[0])
    timing = TimingConfig(**{**args["timing"], "threads": tuple(args["timing"]["threads"])})
    data = np.load(args["inputs"], allow_pickle=False)
    x_raw, y = data["x"], data["y"]
    result: dict[str, Any] = {"by_threads": []}
    for i, threads in enumerate(timing.threads):
        engine, manifest = _load(args, threads)
        z = manifest.normaliser.apply(x_raw)
        if i == 0:
            engine.run(z[:1])
            result["first_inference_s"] = time.perf_counter() - T_START
            pred = np.asarray(manifest.labels)[_predict(engine, z)]
            result["macro_f1"] = macro_f1(y, pred)
            result["accuracy"] = accuracy(y, pred)
            result["windows"] = len(z)
            if hasattr(engine, "size_bytes"):
                result["size_mb"] = engine.size_bytes / 1e6
            if manifest and args["artifact"] != TORCH_ROW:
                art = manifest.artifact(args["artifact"])
                if art.engine == EngineName.LITERT:
                    result["xnnpack"] = xnnpack_share(read_bundle(args["bundle"]).path_of(art))
                elif "xnnpack" in art.parity:
                    result["xnnpack"] = art.parity["xnnpack"]
        result["by_threads"].append({"threads": threads, **measure(engine.run, z, timing)})
        del engine
    # ru_maxrss counts KiB on Linux and bytes on macOS; reported in decimal MB (10^6 bytes) like every size
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    result["peak_rss_mb"] = rss / 1e6
    print(dumps_strict(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
