"""Tiny model bundles with a known answer, built without the export package (for the runtime tests).

The model is a fixed linear map of the z-scored window: logits = flatten(z [B, 3, 100]) @ W + b, written
as ONNX (onnx.helper), TFLite fp32 and full-int8 (tensorflow's converter) and ExecuTorch (.pte, XNNPACK).
W makes class k win when channel k is raised, so synthetic recordings have a recognisable truth.
Load this module with `load()` so every test module shares one build cache per session.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from mujo_edge.bundle import Artifact, Manifest, write_manifest
from mujo_edge.channels import Channel
from mujo_edge.config import WindowConfig
from mujo_edge.normalise import Normaliser
from mujo_edge.recording import Recording

CHANNELS = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
LABELS = ("curl", "squat", "rest")
WINDOW = WindowConfig()
MEAN = (0.5, -1.0, 9.8)
STD = (2.0, 3.0, 1.5)
C, L, K = len(CHANNELS), WINDOW.length, len(LABELS)


def weights() -> tuple[np.ndarray, np.ndarray]:
    """W float32 [C*L, K], b float32 [K]: logit k ~ 3 * mean of z-channel k, plus a little fixed noise."""
    rng = np.random.default_rng(1234)
    w = np.zeros((C, L, K), np.float32)
    for k in range(K):
        w[k, :, k] = 3.0 / L
    w = w.reshape(C * L, K) + rng.normal(scale=0.002, size=(C * L, K)).astype(np.float32)
    return w.astype(np.float32), np.array([0.1, -0.1, 0.05], np.float32)


def normaliser() -> Normaliser:
    return Normaliser(CHANNELS, MEAN, STD)


def reference_logits(x_raw: np.ndarray) -> np.ndarray:
    """Expected logits float64 [W, K] of raw SI windows [W, C, L], computed in numpy."""
    w, b = weights()
    z = (x_raw.astype(np.float64) - np.array(MEAN)[:, None]) / np.array(STD)[:, None]
    return z.reshape(len(z), -1) @ w.astype(np.float64) + b


def random_windows(n: int, seed: int = 0) -> np.ndarray:
    """Raw SI windows float32 [n, C, L] around the normaliser's statistics, one channel raised per window."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=0.7, size=(n, C, L))
    z[np.arange(n), rng.integers(0, C, n)] += 1.5
    return (z * np.array(STD)[:, None] + np.array(MEAN)[:, None]).astype(np.float32)


# --- model files -----------------------------------------------------------------------------------------


def build_onnx(path: Path, batch: int | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, b = weights()
    dim = batch if batch is not None else "batch"
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["x", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "b"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [dim, C, L])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [dim, K])],
        initializer=[
            numpy_helper.from_array(np.array([-1, C * L], np.int64), "shape"),
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(b, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_tflite(path: Path, int8: bool = False, batch: int | None = None) -> Path:
    """fp32 (dynamic batch unless `batch`) or full-integer int8 I/O (batch 1) .tflite of the linear map."""
    import tensorflow as tf

    w, b = weights()
    spec = tf.TensorSpec([1 if int8 else batch, C, L], tf.float32)

    @tf.function(input_signature=[spec])
    def f(x):
        return tf.matmul(tf.reshape(x, [-1, C * L]), w) + b

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    if int8:
        rng = np.random.default_rng(7)
        z = (random_windows(200, seed=7) - np.array(MEAN, np.float32)[:, None]) / np.array(STD, np.float32)[:, None]

        def representative():
            for i in range(len(z)):
                yield [z[i : i + 1].astype(np.float32)]

        del rng
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


def tflite_quant(path: Path) -> tuple[tuple[float, int], tuple[float, int]]:
    """(scale, zero_point) of the model's input and output, as an exporter writes them to the manifest."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    qi, qo = it.get_input_details()[0]["quantization"], it.get_output_details()[0]["quantization"]
    return (float(qi[0]), int(qi[1])), (float(qo[0]), int(qo[1]))


def build_pte(path: Path, max_batch: int = 64) -> Path:
    """An XNNPACK-lowered ExecuTorch program of the linear map with a dynamic batch (1..max_batch)."""
    import importlib

    torch = importlib.import_module("torch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    w, b = weights()

    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(C * L, K)
            with torch.no_grad():
                self.fc.weight.copy_(torch.from_numpy(w.T.copy()))
                self.fc.bias.copy_(torch.from_numpy(b))

        def forward(self, x):
            return self.fc(x.reshape(x.shape[0], C * L))

    example = (torch.zeros(2, C, L),)
    ep = torch.export.export(
        Linear().eval(), example, dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=max_batch)},)
    )
    program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(program.buffer)
    return path


# --- bundles ---------------------------------------------------------------------------------------------


def models(root: Path) -> dict[str, Artifact]:
    """Build (once per folder) every model file; returns the artifact of each (file relative to `root`)."""
    root.mkdir(parents=True, exist_ok=True)
    done = root / "artifacts.json"
    if done.is_file():
        return {d["name"]: Artifact.from_dict(d, str(done)) for d in json.loads(done.read_text())}
    arts = [
        Artifact(
            "onnx-fp32",
            "onnx",
            "fp32",
            build_onnx(root / "model.onnx").name,
            "onnxruntime",
            parity={"top1_agreement": 1.0, "max_abs_logit_diff": 0.0},
        ),
        Artifact("tflite-fp32", "tflite", "fp32", build_tflite(root / "model_fp32.tflite").name, "litert"),
    ]
    int8 = build_tflite(root / "model_int8.tflite", int8=True)
    qi, qo = tflite_quant(int8)
    arts.append(
        Artifact(
            "tflite-int8",
            "tflite",
            "int8",
            int8.name,
            "litert",
            input_dtype="int8",
            output_dtype="int8",
            input_quant=qi,
            output_quant=qo,
            parity={"top1_agreement": 0.99, "macro_f1": 0.98, "delta_macro_f1": -0.01},
        )
    )
    arts.append(Artifact("executorch-fp32", "executorch", "fp32", build_pte(root / "model.pte").name, "executorch"))
    done.write_text(json.dumps([a.to_dict() for a in arts]))
    return {a.name: a for a in arts}


def manifest(artifacts: list[Artifact]) -> Manifest:
    return Manifest(
        channels=CHANNELS,
        units=("m/s^2",) * C,
        window=WINDOW,
        normaliser=normaliser(),
        labels=LABELS,
        label_texts={"curl": "biceps curl", "squat": "squat", "rest": "resting"},
        artifacts=tuple(artifacts),
        training={"dataset": "synthetic", "windows": 123},
        metrics={"macro_f1": 0.97},
        versions={"mujo-edge": "test"},
        created="2024-01-01T00:00:00Z",
    )


def make_bundle(
    folder: Path, model_dir: Path, names: list[str], extra: list[Artifact] = (), status: dict[str, str] | None = None
) -> Path:
    """A bundle folder with the named artifacts of `models(model_dir)` (copied) plus `extra` entries."""
    built = models(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    arts = []
    for n in names:
        a = built[n]
        shutil.copy(model_dir / str(a.file), folder / str(a.file))
        arts.append(replace(a, status=(status or {}).get(n, a.status)))
    write_manifest(folder, manifest([*arts, *extra]))
    return folder


# --- recordings ------------------------------------------------------------------------------------------


def recording(
    rate: float = 50.0,
    seconds: float = 40.0,
    *,
    gap_at_s: float | None = None,
    gap_s: float = 1.0,
    jitter: float = 0.2,
    seed: int = 0,
    t0: float = 1657533977.81,
    labelled: bool = True,
    extra_channel: bool = False,
) -> Recording:
    """A synthetic recording: 8 s segments cycling through LABELS, channel k raised during label k.

    Timestamps jitter by +-`jitter` sample periods; `gap_at_s` inserts a pause of `gap_s` seconds.
    `extra_channel` adds a gyro channel first (the model does not use it) to test selection by name.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate + rng.uniform(-jitter, jitter, n) / rate
    if gap_at_s is not None:
        t[t >= gap_at_s] += gap_s
    label = ((np.arange(n) / rate) // 8).astype(np.int64) % K
    z = rng.normal(scale=0.5, size=(n, C)) + 0.3 * np.sin(2 * np.pi * 1.3 * t)[:, None]
    z[np.arange(n), label] += 2.0
    x = z * np.array(STD) + np.array(MEAN)
    channels = [Channel.parse(c) for c in CHANNELS]
    if extra_channel:
        x = np.concatenate([rng.normal(size=(n, 1)), x], axis=1)
        channels = [Channel.parse("wrist_gyro_x"), *channels]
    return Recording.create(
        t0 + t,
        x.astype(np.float32),
        channels,
        subject="s1",
        source=f"synthetic-{rate:g}Hz",
        classes=LABELS if labelled else (),
        labels=label.astype(np.int16) if labelled else None,
    )


def write_csv(path: Path, rec: Recording) -> Path:
    """The recording in the bring-your-own CSV layout (timestamps in ms)."""
    names = [f"{c}[m/s^2]" for c in rec.channel_names]
    lines = [",".join(["timestamp[ms]", *names, "label", "subject"])]
    for i in range(rec.n_samples):
        lab = rec.classes[rec.labels[i]] if rec.labels[i] >= 0 else ""
        lines.append(",".join([repr(float(rec.t[i] * 1000.0)), *(repr(float(v)) for v in rec.x[i]), lab, rec.subject]))
    path.write_text("\n".join(lines) + "\n")
    return path


def load() -> object:
    """This module, imported once per process under one name so its callers share state."""
    name = "mujo_runtime_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
