"""Export formats, a typed registry keyed by name: "onnx", "tflite", "executorch".

Each format writes fp32 (and with `job.int8` an int8) model file into a bundle folder and returns one `Artifact`
per precision. Every model file takes z-scored float32 windows `[batch, C, L]` (NCL, the layout of `Windows.x`;
the runtime normalises) and returns logits `[batch, K]`; int8 models keep float I/O unless `job.int8_io`
(TFLite only: the full-integer model with int8 input/output, scale and zero point recorded in the artifact).
A precision that raises becomes an artifact with status export-failed and the reason in `notes`, so one broken
converter never takes the rest of the bundle down. Heavy toolchains are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mujo_edge.bundle import Artifact, ArtifactStatus, EngineName, Precision
from mujo_edge.errors import ConfigError, ExportError
from mujo_edge.registry import Registry

log = logging.getLogger(__name__)

INT8_ACTIVATIONS = ("static", "dynamic")
ONNX_OPSET = 20  # opset 20 has a real Gelu op; at 17 GELU becomes Erf, which onnx2tf maps to a Flex (TF-only) op
INPUT_NAME = "x"
OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class ExportJob:
    """What every format needs besides the model.

    calib: z-scored float32 calibration windows [N, C, L] (needed when `int8`). channels/length: the input shape.
    int8_activations: "static" (ranges calibrated at export) or "dynamic" (TFLite: int8 weights, activations
    quantised per inference; ONNX and ExecuTorch int8 stay static).
    """

    channels: int
    length: int
    int8: bool = True
    int8_io: bool = False
    calib: np.ndarray | None = None
    int8_activations: str = "static"

    def __post_init__(self) -> None:
        if self.int8_activations not in INT8_ACTIVATIONS:
            raise ConfigError(
                f"must be one of {', '.join(INT8_ACTIVATIONS)}, got {self.int8_activations!r}",
                field="int8_activations",
            )
        if self.int8_io and self.int8_activations == "dynamic":
            raise ConfigError("a dynamic-range model has float input and output: drop --int8-io", field="int8_io")


ExportFn = Callable[["object", Path, ExportJob], list[Artifact]]


@dataclass(frozen=True)
class ExportFormat:
    """One registry entry: `export(classifier, folder, job)` writes files into `folder` and returns artifacts."""

    name: str
    engine: EngineName
    suffix: str
    export: ExportFn

    def artifact_name(self, precision: Precision) -> str:
        return f"{self.name}-{precision}"

    def failed(self, precision: Precision, reason: str) -> Artifact:
        return Artifact(
            name=self.artifact_name(precision),
            format=self.name,
            precision=precision,
            file=None,
            engine=self.engine,
            status=ArtifactStatus.EXPORT_FAILED,
            notes=reason,
        )

    def precisions(self, job: ExportJob) -> tuple[Precision, ...]:
        return (Precision.FP32, Precision.INT8) if job.int8 else (Precision.FP32,)

    def run(self, classifier: object, folder: Path, job: ExportJob) -> list[Artifact]:
        """`export`, with any exception turned into export-failed artifacts for the precisions it did not write."""
        try:
            done = self.export(classifier, folder, job)
        except Exception as e:
            log.warning("%s export failed: %s", self.name, e, exc_info=True)
            done = []
            reason = f"{type(e).__name__}: {e}"
        else:
            reason = "not produced"
        have = {a.precision for a in done}
        return done + [self.failed(p, reason) for p in self.precisions(job) if p not in have]


FORMATS: Registry[ExportFormat] = Registry("export format")


def attempt(fmt_name: str, engine: EngineName, precision: Precision, make: Callable[[], Artifact]) -> Artifact:
    """One precision of one format: its artifact, or an export-failed one carrying the exception text."""
    try:
        return make()
    except Exception as e:
        log.warning("%s-%s export failed: %s", fmt_name, precision, e, exc_info=True)
        return Artifact(
            name=f"{fmt_name}-{precision}",
            format=fmt_name,
            precision=precision,
            file=None,
            engine=engine,
            status=ArtifactStatus.EXPORT_FAILED,
            notes=f"{type(e).__name__}: {e}",
        )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence converters that print (onnx2tf, TensorFlow's C++ logging, torch.onnx, onnxruntime.quantization).

    Redirects the process's file descriptors 1 and 2 (C++ code writes there directly, around sys.stdout) and
    lifts the root logger to ERROR (onnxruntime.quantization warns through it). Exceptions still propagate,
    and what was printed is logged at DEBUG level for diagnosis."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    root = logging.getLogger()
    level = root.level
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = (os.dup(1), os.dup(2))
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            root.setLevel(logging.ERROR)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            root.setLevel(level)
            if log.isEnabledFor(logging.DEBUG):
                sink.seek(0)
                log.debug("converter output:\n%s", sink.read()[-4000:].decode(errors="replace"))


def _example(job: ExportJob, batch: int = 1) -> np.ndarray:
    if job.calib is not None and len(job.calib) >= batch:
        return np.ascontiguousarray(job.calib[:batch], dtype=np.float32)
    return np.zeros((batch, job.channels, job.length), np.float32)


# ------------------------------------------------------------------------------------------------ ONNX


def write_onnx(classifier: object, path: Path, job: ExportJob) -> Path:
    """fp32 ONNX of the 1-D export graph (see graph.py) with a dynamic batch dimension, opset 20."""
    import torch

    from mujo_edge.export.graph import export_module

    module = export_module(classifier)  # type: ignore[arg-type]
    x = torch.from_numpy(_example(job, 2))  # batch 2: a batch of 1 could be specialised away
    batch = torch.export.Dim("batch", min=1, max=65536)
    with quiet():
        torch.onnx.export(
            module,
            (x,),
            str(path),
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            external_data=False,
            verbose=False,
        )
    return path


class _Reader:
    """onnxruntime CalibrationDataReader over z-scored windows, in batches."""

    def __init__(self, x: np.ndarray, batch: int = 32) -> None:
        self._batches = iter([{INPUT_NAME: x[i : i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_onnx(fp32: Path, out: Path, calib: np.ndarray) -> Path:
    """Static int8 (QDQ, per-channel weights, int8 activations) calibrated with min/max over `calib`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    reader = type("Reader", (_Reader, CalibrationDataReader), {})(np.ascontiguousarray(calib, np.float32))
    with quiet():
        quantize_static(
            str(fp32),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
    return out


def _onnx(classifier: object, folder: Path, job: ExportJob) -> list[Artifact]:
    fmt = FORMATS.get("onnx")
    fp32_path = folder / "model-fp32.onnx"

    def fp32() -> Artifact:
        write_onnx(classifier, fp32_path, job)
        return Artifact(
            name=fmt.artifact_name(Precision.FP32),
            format=fmt.name,
            precision=Precision.FP32,
            file=fp32_path.name,
            engine=fmt.engine,
        )

    out = [attempt(fmt.name, fmt.engine, Precision.FP32, fp32)]
    if job.int8:

        def int8() -> Artifact:
            if not fp32_path.is_file():
                raise ExportError("the fp32 ONNX model it quantises was not written", path=fp32_path)
            path = quantize_onnx(fp32_path, folder / "model-int8.onnx", _need_calib(job))
            return Artifact(
                name=fmt.artifact_name(Precision.INT8),
                format=fmt.name,
                precision=Precision.INT8,
                file=path.name,
                engine=fmt.engine,
                notes="onnxruntime quantize_static: QDQ, per-channel int8 weights, int8 activations",
                activations="static",
            )

        out.append(attempt(fmt.name, fmt.engine, Precision.INT8, int8))
    return out


def _need_calib(job: ExportJob) -> np.ndarray:
    if job.calib is None or len(job.calib) == 0:
        raise ExportError("int8 needs calibration windows", field="calib")
    return job.calib


# ------------------------------------------------------------------------------------------------ TFLite


def _tflite(classifier: object, folder: Path, job: ExportJob) -> list[Artifact]:
    """ONNX (1-D graph) -> onnx2tf -> TFLite. onnx2tf names its outputs after the ONNX file's stem:
    `<stem>_float32.tflite`, `<stem>_float16.tflite`, and with integer quantisation also
    `<stem>_dynamic_range_quant.tflite`, `<stem>_integer_quant.tflite` (int8, float I/O),
    `<stem>_full_integer_quant.tflite` (int8 I/O) and `*_with_int16_act` variants."""
    with quiet():  # importing TensorFlow prints C++ start-up lines
        import onnx2tf

    fmt = FORMATS.get("tflite")
    tmp = Path(tempfile.mkdtemp(prefix="mujo-onnx2tf-"))
    try:
        onnx_path = write_onnx(classifier, tmp / "model.onnx", job)
        kwargs: dict[str, object] = {}
        if job.int8:
            calib_path = tmp / "calib.npy"
            # already z-scored, so onnx2tf's own (x - mean) / std must be the identity; the array is NCL because
            # keep_shape_absolutely_input_names keeps the input layout as it is in ONNX
            np.save(calib_path, np.ascontiguousarray(_need_calib(job), np.float32))
            kwargs = dict(
                output_integer_quantized_tflite=True,
                quant_type="per-channel",
                custom_input_op_name_np_data_path=[[INPUT_NAME, str(calib_path), [0.0], [1.0]]],
                input_quant_dtype="int8",
                output_quant_dtype="int8",
            )
        with quiet():
            onnx2tf.convert(
                input_onnx_file_path=str(onnx_path),
                output_folder_path=str(tmp / "tf"),
                keep_shape_absolutely_input_names=[INPUT_NAME],
                batch_size=1,
                copy_onnx_input_output_names_to_tflite=True,
                verbosity="error",
                **kwargs,
            )
        made = tmp / "tf"
        out = [
            attempt(
                fmt.name,
                fmt.engine,
                Precision.FP32,
                lambda: _take(made / "model_float32.tflite", folder / "model-fp32.tflite", Precision.FP32, fmt),
            )
        ]
        if job.int8:
            # onnx2tf writes every variant in one run; which one ships is the job's choice
            variant = {
                (False, "static"): "model_integer_quant.tflite",
                (True, "static"): "model_full_integer_quant.tflite",
                (False, "dynamic"): "model_dynamic_range_quant.tflite",
            }[(job.int8_io, job.int8_activations)]
            out.append(
                attempt(
                    fmt.name,
                    fmt.engine,
                    Precision.INT8,
                    lambda: _take(made / variant, folder / "model-int8.tflite", Precision.INT8, fmt),
                )
            )
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _take(src: Path, dst: Path, precision: Precision, fmt: ExportFormat) -> Artifact:
    """Move one onnx2tf output into the bundle and describe its I/O (dtypes, int8 quantisation)."""
    if not src.is_file():
        made = sorted(p.name for p in src.parent.glob("*.tflite"))
        raise FileNotFoundError(f"onnx2tf wrote no {src.name} (it wrote {made})")
    shutil.copyfile(src, dst)
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        interp = Interpreter(model_path=str(dst))  # also proves the file loads (no Flex ops)
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    in_q = (float(i["quantization"][0]), int(i["quantization"][1])) if i["dtype"] == np.int8 else None
    out_q = (float(o["quantization"][0]), int(o["quantization"][1])) if o["dtype"] == np.int8 else None
    dynamic = "dynamic_range" in src.name
    notes = (
        "onnx2tf dynamic-range int8: int8 weights, activations quantised per inference, float input/output"
        if dynamic
        else "onnx2tf per-channel int8" + (", int8 input/output" if in_q else ", float input/output")
        if precision == Precision.INT8
        else "onnx2tf float32"
    )
    return Artifact(
        name=fmt.artifact_name(precision),
        format=fmt.name,
        precision=precision,
        file=dst.name,
        engine=fmt.engine,
        input_dtype="int8" if in_q else "float32",
        output_dtype="int8" if out_q else "float32",
        input_quant=in_q,
        output_quant=out_q,
        notes=notes,
        activations=("dynamic" if dynamic else "static") if precision == Precision.INT8 else "",
    )


# ------------------------------------------------------------------------------------------------ ExecuTorch


def _lower(module: object, x1: object, path: Path) -> dict[str, int]:
    """torch.export -> XNNPACK-lowered edge program -> .pte; returns how much of the graph XNNPACK took
    ({"ops", "delegated", "subgraphs"}; empty when ExecuTorch cannot tell)."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    ep = torch.export.export(module, (x1,))  # type: ignore[arg-type]
    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    share: dict[str, int] = {}
    try:
        from executorch.devtools.backend_debug import get_delegation_info

        info = get_delegation_info(edge.exported_program().graph_module)
        share = {
            "ops": info.num_delegated_nodes + info.num_non_delegated_nodes,
            "delegated": info.num_delegated_nodes,
            "subgraphs": info.num_delegated_subgraphs,
        }
    except Exception as e:
        log.debug("no delegation info: %s", e)
    path.write_bytes(edge.to_executorch().buffer)
    return share


def _describe(share: dict[str, int]) -> str:
    if not share:
        return ""
    return f"XNNPACK delegated {share['delegated']}/{share['ops']} nodes in {share['subgraphs']} subgraphs"


def _executorch(classifier: object, folder: Path, job: ExportJob) -> list[Artifact]:
    """The training graph itself (its 2-D convs and pools are what XNNPACK delegates best), batch 1 only."""
    import torch

    fmt = FORMATS.get("executorch")
    x1 = torch.from_numpy(_example(job, 1))

    def fp32() -> Artifact:
        path = folder / "model-fp32.pte"
        with quiet():
            share = _lower(classifier, x1, path)
        return Artifact(
            name=fmt.artifact_name(Precision.FP32),
            format=fmt.name,
            precision=Precision.FP32,
            file=path.name,
            engine=fmt.engine,
            notes=f"batch 1; {_describe(share)}".rstrip("; "),
            parity={"xnnpack": share} if share else {},
        )

    out = [attempt(fmt.name, fmt.engine, Precision.FP32, fp32)]
    if job.int8:

        def int8() -> Artifact:
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            calib = _need_calib(job)
            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            with quiet():
                graph = torch.export.export(classifier, (x1,)).module()  # type: ignore[arg-type]
                prepared = prepare_pt2e(graph, quantizer)
                with torch.no_grad():
                    for w in calib:  # exported with batch 1, so it only accepts batch 1 while observing
                        prepared(torch.from_numpy(np.ascontiguousarray(w[None], np.float32)))
                path = folder / "model-int8.pte"
                share = _lower(convert_pt2e(prepared), x1, path)
            return Artifact(
                name=fmt.artifact_name(Precision.INT8),
                format=fmt.name,
                precision=Precision.INT8,
                file=path.name,
                engine=fmt.engine,
                notes=f"PT2E XNNPACK symmetric per-channel int8; batch 1; {_describe(share)}",
                parity={"xnnpack": share} if share else {},
                activations="static",
            )

        out.append(attempt(fmt.name, fmt.engine, Precision.INT8, int8))
    return out


FORMATS.register("onnx", ExportFormat("onnx", EngineName.ONNXRUNTIME, ".onnx", _onnx))
FORMATS.register("tflite", ExportFormat("tflite", EngineName.LITERT, ".tflite", _tflite))
FORMATS.register("executorch", ExportFormat("executorch", EngineName.EXECUTORCH, ".pte", _executorch))
