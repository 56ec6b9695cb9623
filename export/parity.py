"""Parity at export: run every model file on held-out windows in Python and compare with torch fp32.

Artifacts run on the runtime's own engines (z-scored float32 windows [N, C, L] -> logits [N, K]), the same
code a device runs.
`layer_sqnr` is the per-layer int8 error report: signal-to-quantisation-noise ratio of every Conv / Gemm /
MatMul / Gelu output of the ONNX QDQ model against the fp32 ONNX model (same graph, same tensor names).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.bundle import Artifact, ArtifactStatus

log = logging.getLogger(__name__)


def run_artifact(path: Path, artifact: Artifact, x: np.ndarray) -> np.ndarray:
    """Logits [N, K] of one model file on z-scored windows [N, C, L], through the runtime engine a device
    uses (`mujo_edge.runtime.engines`), so parity measures exactly what ships, int8 I/O handling included."""
    from mujo_edge.export.formats import quiet
    from mujo_edge.runtime.engines import load_engine

    with quiet():  # "Created TensorFlow Lite XNNPACK delegate", ExecuTorch's CPU probing lines
        engine = load_engine(artifact.engine, path, artifact, threads=1)
    return engine.run(np.ascontiguousarray(x, np.float32))


def compare(
    logits: np.ndarray, reference: np.ndarray, y: np.ndarray, n_classes: int, reference_f1: float
) -> dict[str, Any]:
    """max |logit difference|, top-1 agreement with torch fp32, macro-F1 on the labels and its change."""
    from mujo_edge.metrics import scores

    pred = logits.argmax(axis=1)
    f1 = scores(y, pred, n_classes)["macro_f1"]
    return {
        "max_abs_logit_diff": float(np.abs(logits - reference).max()) if len(y) else 0.0,
        "top1_agreement": float((pred == reference.argmax(axis=1)).mean()) if len(y) else 1.0,
        "macro_f1": float(f1),
        "delta_macro_f1": float(f1 - reference_f1),
        "windows": len(y),
    }


def judge(parity: Mapping[str, Any], max_f1_drop: float) -> ArtifactStatus:
    """pass when macro-F1 fell by at most `max_f1_drop` (absolute, 0.01 = one point), else exported-but-failed."""
    drop = -float(parity["delta_macro_f1"])
    return ArtifactStatus.PASS if drop <= max_f1_drop + 1e-12 else ArtifactStatus.FAILED_PARITY


@dataclass(frozen=True)
class LayerError:
    """Quantisation error of one layer output: SQNR in dB (higher is better; < ~15 dB deserves a look)."""

    layer: str  # ONNX tensor name, e.g. "conv1d_1" or "linear_2"
    op: str  # ONNX op type producing it
    sqnr_db: float

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "op": self.op, "sqnr_db": self.sqnr_db}


# the quantiser fuses Conv+Relu into one Conv writing the Relu's tensor, so Relu outputs are compared too
LAYER_OPS = ("Conv", "MatMul", "Gemm", "Gelu", "Relu", "MaxPool", "LayerNormalization")


def sqnr_db(reference: np.ndarray, quantised: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - q)^2); inf when identical."""
    noise = float(np.sum((reference.astype(np.float64) - quantised) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10.0 * float(np.log10(max(signal, 1e-30) / noise))


def _with_outputs(model_path: Path, names: list[str]) -> bytes:
    """The model with `names` added as graph outputs (float, shape left to the runtime)."""
    import onnx

    model = onnx.load(str(model_path))
    have = {o.name for o in model.graph.output}
    for n in names:
        if n not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    return model.SerializeToString()


def layer_sqnr(fp32_path: Path, int8_path: Path, x: np.ndarray) -> list[LayerError]:
    """Per-layer SQNR of the ONNX QDQ int8 model against the fp32 ONNX model on windows x [N, C, L], worst first.

    Layers are the outputs of Conv / Gemm / MatMul / Gelu / Relu / MaxPool / LayerNormalization nodes.

    quantize_static keeps each float op's output name and inserts Q/DQ pairs after it, so the same name in both
    graphs is the same layer; on the int8 side the tensor compared is that output after its own
    Quantize/DequantizeLinear pair (the int8 activation the next layer consumes). Other converters quantise the
    same graph differently, so this describes the ONNX int8 model only (it is a fair guide to which layers are
    fragile in the others)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(fp32_path))
    layers = {o: n.op_type for n in model.graph.node if n.op_type in LAYER_OPS for o in n.output}
    q_model = onnx.load(str(int8_path))
    q_ops = {o: n.op_type for n in q_model.graph.node for o in n.output}
    names = [n for n in layers if n in q_ops]
    for n in names:  # name what the int8 graph computes there, e.g. "Conv+Relu" for a fused pair
        if q_ops[n] != layers[n] and q_ops[n] in LAYER_OPS:
            layers[n] = f"{q_ops[n]}+{layers[n]}"
    # compare the activation as the next layer sees it: name -> QuantizeLinear -> DequantizeLinear output. A fused
    # Conv+Relu writes the raw convolution and leaves the Relu to the quantiser's clamp at zero, so only the
    # dequantised tensor is comparable to the fp32 Relu output.
    quant_of = {n.input[0]: n.output[0] for n in q_model.graph.node if n.op_type == "QuantizeLinear"}
    dequant_of = {n.input[0]: n.output[0] for n in q_model.graph.node if n.op_type == "DequantizeLinear"}
    q_names = {n: dequant_of.get(quant_of.get(n, ""), n) for n in names}
    if not names:
        return []
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # no graph fusions: a fused Conv+Relu would hide the tensors compared here
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ref = ort.InferenceSession(_with_outputs(fp32_path, names), options, providers=["CPUExecutionProvider"])
    qnt = ort.InferenceSession(
        _with_outputs(int8_path, list(q_names.values())), options, providers=["CPUExecutionProvider"]
    )
    inp = ref.get_inputs()[0].name
    x = np.ascontiguousarray(x, np.float32)
    signal = dict.fromkeys(names, 0.0)
    noise = dict.fromkeys(names, 0.0)
    for i in range(0, len(x), 128):
        a = ref.run(names, {inp: x[i : i + 128]})
        b = qnt.run([q_names[n] for n in names], {inp: x[i : i + 128]})
        for n, ra, qb in zip(names, a, b):
            ra = ra.astype(np.float64)
            signal[n] += float(np.sum(ra**2))
            noise[n] += float(np.sum((ra - qb) ** 2))
    out = [
        LayerError(
            n, layers[n], float("inf") if noise[n] == 0 else 10.0 * float(np.log10(max(signal[n], 1e-30) / noise[n]))
        )
        for n in names
    ]
    return sorted(out, key=lambda e: e.sqnr_db)
