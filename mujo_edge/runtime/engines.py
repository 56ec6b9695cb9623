"""Inference engines: one small adapter per device runtime, in a typed registry keyed by name.

Every engine takes z-scored float32 windows `x` [B, C, L] (the bundle's NCL layout) and returns float32
logits [B, K]. Batching is the engine's business: a model exported with a fixed batch (often 1) is run
chunk by chunk, so callers may pass any B >= 1.

Engine modules are imported lazily, inside `load`, so importing this module costs nothing and never pulls
in a runtime the device does not have. A missing runtime raises `EngineUnavailableError` naming the
package to install. Only the ExecuTorch engine needs torch (its Python runtime exchanges torch tensors);
LiteRT and ONNX Runtime are torch-free.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mujo_edge.bundle import Artifact, BundleError, EngineName, Manifest
from mujo_edge.errors import ConfigError, MujoEdgeError
from mujo_edge.registry import Registry

log = logging.getLogger(__name__)


class EngineUnavailableError(MujoEdgeError):
    """The Python module an engine needs is not installed (or fails to import) on this device."""

    def __init__(self, engine: str, install: str, reason: str = "") -> None:
        self.engine = engine
        self.install = install
        self.reason = reason
        detail = f" ({reason})" if reason else ""
        super().__init__(f"engine '{engine}' is not available{detail}; install it with: {install}")


@runtime_checkable
class Engine(Protocol):
    """A loaded model ready to run."""

    name: str  # registry name of the engine (an EngineName)
    max_batch: int | None  # largest batch one call of the underlying model takes; None = any
    input_shape: tuple[int | None, ...]  # what the model file declares, [B, C, L]; None = a dynamic dimension
    output_shape: tuple[int | None, ...]  # [B, K] for a classifier

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits float32 [B, K] for z-scored float32 windows [B, C, L]."""
        ...


@dataclass(frozen=True)
class EngineSpec:
    """How to probe for and load one engine.

    modules: Python modules of which the first importable one is used (a device may have the
    successor or the legacy package). install: what to tell the user when none imports.
    """

    name: str
    modules: tuple[str, ...]
    install: str
    loader: Callable[[Path, Artifact, int], Engine]
    needs_torch: bool = False

    def import_module(self) -> ModuleType:
        """The first of `modules` that imports; EngineUnavailableError when none does."""
        reasons = []
        for name in self.modules:
            try:
                return importlib.import_module(name)
            except Exception as e:
                reasons.append(f"{name}: {type(e).__name__}: {e}")
        raise EngineUnavailableError(self.name, self.install, "; ".join(reasons))

    def available(self) -> bool:
        """True when this engine's module imports here (the result is cached per process)."""
        return _available(self.name)

    def load(self, path: str | Path, artifact: Artifact, threads: int = 1) -> Engine:
        """Load `path` (the artifact's model file) with `threads` CPU threads."""
        if threads < 1:
            raise ConfigError(f"must be >= 1, got {threads}", field="threads")
        return self.loader(Path(path), artifact, threads)


_AVAILABLE: dict[str, bool] = {}


def _available(name: str) -> bool:
    if name not in _AVAILABLE:
        try:
            ENGINES.get(name).import_module()
            _AVAILABLE[name] = True
        except EngineUnavailableError as e:
            log.debug("%s", e)
            _AVAILABLE[name] = False
    return _AVAILABLE[name]


# --- int8 I/O --------------------------------------------------------------------------------------


def quantise(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype[Any] | type) -> np.ndarray:
    """Float -> integer tensor: round(x / scale) + zero_point, clipped to the dtype's range."""
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float32) / np.float32(scale)) + zero_point
    out: np.ndarray = np.clip(q, info.min, info.max).astype(dtype)
    return out


def dequantise(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor -> float32: (q - zero_point) * scale."""
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


def _check_io_dtype(artifact: Artifact, which: str, declared: str, actual: np.dtype[Any]) -> None:
    """The manifest's I/O dtype must be what the model file really takes; a mismatch means a mixed-up bundle."""
    if np.dtype(declared) != np.dtype(actual):
        raise BundleError(
            f"the model's {which} is {np.dtype(actual).name} but the manifest says {declared}",
            field=f"artifacts.{artifact.name}.{which}_dtype",
        )


def _dims(shape: Any) -> tuple[int | None, ...]:
    """A model's declared shape with every dynamic dimension (-1, 0, a symbolic name, None) as None."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape)


def _one_input(count: int, artifact: Artifact, path: Path) -> None:
    if count != 1:
        raise BundleError(
            f"the model takes {count} inputs; a bundle's model takes one, [batch, channels, samples]",
            path=path,
            field=f"artifacts.{artifact.name}.file",
        )


def _fits(shape: tuple[int | None, ...], want: tuple[int, ...]) -> bool:
    """`shape` is [batch, *want], a dynamic dimension matching anything."""
    return len(shape) == 1 + len(want) and all(d is None or d == w for d, w in zip(shape[1:], want))


def _show(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def check_model_io(engine: Engine, artifact: Artifact, manifest: Manifest, path: str | Path) -> None:
    """The model file must take what the manifest says the device feeds it, [batch, channels, window length],
    and a classifier must return one logit per label: a bundle whose manifest and model disagree is refused
    when it loads, instead of failing at the first window."""
    c, length = manifest.input_shape
    if not _fits(engine.input_shape, (c, length)):
        raise BundleError(
            f"artifact {artifact.name!r} takes {_show(engine.input_shape)}, the manifest feeds [batch, {c}, {length}] "
            f"({c} channels, windows of {length} samples)",
            path=path,
            field="input.shape",
        )
    k = len(manifest.labels)
    if manifest.kind == "classifier" and not _fits(engine.output_shape, (k,)):
        raise BundleError(
            f"artifact {artifact.name!r} returns {_show(engine.output_shape)}, the manifest has {k} labels "
            f"([batch, {k}])",
            path=path,
            field="labels",
        )


def _batches(x: np.ndarray, size: int | None) -> list[np.ndarray]:
    if size is None or x.shape[0] <= size:
        return [x]
    return [x[i : i + size] for i in range(0, x.shape[0], size)]


def _pad_to(x: np.ndarray, size: int) -> np.ndarray:
    """Repeat the last window so a short chunk fills a fixed-batch model (the extra rows are discarded)."""
    if x.shape[0] == size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - x.shape[0], axis=0)])


def _as_logits(y: np.ndarray, batch: int, artifact: Artifact) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 2 or y.shape[0] != batch:
        raise BundleError(
            f"the model returned shape {y.shape}, expected [{batch}, classes]", field=f"artifacts.{artifact.name}"
        )
    return y


# --- LiteRT (ai-edge-litert, or tflite-runtime on older devices) ------------------------------------


class LiteRTEngine:
    """A .tflite model on `ai_edge_litert` (preferred) or `tflite_runtime`.

    A dynamic batch dimension (shape signature -1) is resized to each call's batch; a fixed batch is run
    chunk by chunk. Int8 I/O is quantised with the manifest's (scale, zero point), falling back to the
    model's own parameters when the manifest has none.
    """

    name: str = EngineName.LITERT

    def __init__(self, path: Path, artifact: Artifact, threads: int) -> None:
        module = ENGINES.get(EngineName.LITERT).import_module()
        try:
            self._interp = module.Interpreter(model_path=str(path), num_threads=threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise BundleError(f"LiteRT cannot load the model: {e}", path=path) from None
        self.artifact = artifact
        inputs = self._interp.get_input_details()
        _one_input(len(inputs), artifact, path)
        inp, out = inputs[0], self._interp.get_output_details()[0]
        self.input_shape = _dims(inp.get("shape_signature", inp["shape"]))
        self.output_shape = _dims(out.get("shape_signature", out["shape"]))
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype, self._out_dtype = np.dtype(inp["dtype"]), np.dtype(out["dtype"])
        _check_io_dtype(artifact, "input", artifact.input_dtype, self._in_dtype)
        _check_io_dtype(artifact, "output", artifact.output_dtype, self._out_dtype)
        self._in_quant = artifact.input_quant or tuple(inp["quantization"])
        self._out_quant = artifact.output_quant or tuple(out["quantization"])
        signature = inp.get("shape_signature", inp["shape"])
        self._shape = tuple(int(v) for v in inp["shape"])
        self.dynamic_batch = int(signature[0]) == -1
        self.max_batch: int | None = None if self.dynamic_batch else self._shape[0]

    def _ensure_batch(self, batch: int) -> None:
        if self._shape[0] != batch:
            self._interp.resize_tensor_input(self._in_index, [batch, *self._shape[1:]])
            self._interp.allocate_tensors()
            self._shape = (batch, *self._shape[1:])

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        if self._in_dtype != np.float32:
            scale, zero = self._in_quant
            x = quantise(x, scale, int(zero), self._in_dtype)
        self._interp.set_tensor(self._in_index, np.ascontiguousarray(x))
        self._interp.invoke()
        y = self._interp.get_tensor(self._out_index)
        if self._out_dtype != np.float32:
            scale, zero = self._out_quant
            y = dequantise(y, scale, int(zero))
        return np.asarray(y)

    def run(self, x: np.ndarray) -> np.ndarray:
        batch = x.shape[0]
        if self.dynamic_batch:
            self._ensure_batch(batch)
            return _as_logits(self._run_one(x), batch, self.artifact)
        size = self._shape[0]
        outs = [self._run_one(_pad_to(chunk, size))[: chunk.shape[0]] for chunk in _batches(x, size)]
        return _as_logits(np.concatenate(outs), batch, self.artifact)


# --- ONNX Runtime ------------------------------------------------------------------------------------


class OnnxRuntimeEngine:
    """An .onnx model on ONNX Runtime's CPU provider with `threads` intra-op threads."""

    name: str = EngineName.ONNXRUNTIME

    def __init__(self, path: Path, artifact: Artifact, threads: int) -> None:
        ort = ENGINES.get(EngineName.ONNXRUNTIME).import_module()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # one graph branch at a time: the model is a single chain
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise BundleError(f"ONNX Runtime cannot load the model: {e}", path=path) from None
        self.artifact = artifact
        inputs = self._session.get_inputs()
        _one_input(len(inputs), artifact, path)
        inp, out = inputs[0], self._session.get_outputs()[0]
        self._input, self._output = inp.name, out.name
        self.input_shape, self.output_shape = _dims(inp.shape), _dims(out.shape)
        batch = inp.shape[0]
        self.max_batch: int | None = batch if isinstance(batch, int) and batch > 0 else None
        self._int8_in = np.dtype(artifact.input_dtype) != np.float32
        self._int8_out = np.dtype(artifact.output_dtype) != np.float32
        if (self._int8_in and artifact.input_quant is None) or (self._int8_out and artifact.output_quant is None):
            raise BundleError(
                "integer I/O needs input_quant/output_quant in the manifest", field=f"artifacts.{artifact.name}"
            )

    def run(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for chunk in _batches(x, self.max_batch):
            n = chunk.shape[0]
            feed = chunk if self.max_batch is None else _pad_to(chunk, self.max_batch)
            if self._int8_in:
                scale, zero = self.artifact.input_quant  # type: ignore[misc]
                feed = quantise(feed, scale, zero, np.dtype(self.artifact.input_dtype))
            y = self._session.run([self._output], {self._input: np.ascontiguousarray(feed)})[0][:n]
            if self._int8_out:
                scale, zero = self.artifact.output_quant  # type: ignore[misc]
                y = dequantise(y, scale, zero)
            outs.append(y)
        return _as_logits(np.concatenate(outs), x.shape[0], self.artifact)


# --- ExecuTorch ---------------------------------------------------------------------------------------


class ExecuTorchEngine:
    """A .pte program on ExecuTorch's Python runtime (`executorch.runtime`).

    That runtime only accepts torch tensors, so this engine (alone) needs torch; it is imported here, at
    load time, through importlib so the rest of the runtime stays torch-free. On a device without torch,
    run the .pte from C++ or pick the LiteRT/ONNX artifact. `threads` resizes ExecuTorch's process-wide
    XNNPACK thread pool.
    """

    name: str = EngineName.EXECUTORCH

    def __init__(self, path: Path, artifact: Artifact, threads: int) -> None:
        runtime_module = ENGINES.get(EngineName.EXECUTORCH).import_module()
        self._torch = importlib.import_module("torch")
        _set_executorch_threads(threads)
        try:
            program = runtime_module.Runtime.get().load_program(str(path))
            self._method = program.load_method("forward")
        except Exception as e:
            raise BundleError(f"ExecuTorch cannot load the program: {e}", path=path) from None
        self.artifact = artifact
        _one_input(self._method.metadata.num_inputs(), artifact, path)
        meta = self._method.metadata.input_tensor_meta(0)
        # memory-planned sizes: the fixed batch, or the upper bound of a dynamic batch dimension
        self.max_batch: int | None = int(meta.sizes()[0])
        self.input_shape = _dims(meta.sizes())
        self.output_shape = _dims(self._method.metadata.output_tensor_meta(0).sizes())
        self._pad: bool | None = None  # learnt on the first short chunk: does the program take smaller batches?

    def _call(self, x: np.ndarray) -> np.ndarray:
        out = self._method.execute([self._torch.from_numpy(np.ascontiguousarray(x))])
        return np.asarray(out[0].detach().numpy())

    def run(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for chunk in _batches(x, self.max_batch):
            n = chunk.shape[0]
            if n == self.max_batch or self._pad:
                outs.append(self._call(_pad_to(chunk, self.max_batch or n))[:n])
                continue
            try:
                outs.append(self._call(chunk))
                self._pad = False
            except RuntimeError:
                if self._pad is False:
                    raise
                log.debug("the ExecuTorch program has a fixed batch of %s: padding", self.max_batch)
                self._pad = True
                outs.append(self._call(_pad_to(chunk, self.max_batch or n))[:n])
        return _as_logits(np.concatenate(outs), x.shape[0], self.artifact)


def _set_executorch_threads(threads: int) -> None:
    try:
        lib = importlib.import_module("executorch.extension.pybindings.portable_lib")
    except ImportError:
        return
    get = getattr(lib, "_threadpool_get_thread_count", None)
    reset = getattr(lib, "_unsafe_reset_threadpool", None)
    if get is not None and reset is not None and get() != threads:
        reset(threads)


# --- registry ------------------------------------------------------------------------------------------

ENGINES: Registry[EngineSpec] = Registry("engine")
ENGINES.register(
    EngineName.LITERT,
    EngineSpec(
        name=EngineName.LITERT,
        modules=("ai_edge_litert.interpreter", "tflite_runtime.interpreter"),
        install="pip install 'mujo-edge[litert]' (ai-edge-litert; tflite-runtime also works where installed)",
        loader=LiteRTEngine,
    ),
)
ENGINES.register(
    EngineName.EXECUTORCH,
    EngineSpec(
        name=EngineName.EXECUTORCH,
        modules=("executorch.runtime",),
        install=(
            "pip install 'mujo-edge[export]' (executorch==1.4.1 with torch==2.13.0: its Python runtime needs torch)"
        ),
        loader=ExecuTorchEngine,
        needs_torch=True,
    ),
)
ENGINES.register(
    EngineName.ONNXRUNTIME,
    EngineSpec(
        name=EngineName.ONNXRUNTIME,
        modules=("onnxruntime",),
        install="pip install onnxruntime",
        loader=OnnxRuntimeEngine,
    ),
)


def load_engine(name: str, path: str | Path, artifact: Artifact, threads: int = 1) -> Engine:
    """Load `path` with the engine registered as `name` (UnknownNameError for an unknown name)."""
    return ENGINES.get(name).load(path, artifact, threads)
