"""The pooled encoder's export graph (identity entry, 1x1 sum of squares, spectral convolutions) is the same
function up to float rounding, and goes through ONNX unchanged."""

import numpy as np
import torch

from mujo_edge.export.graph import export_module
from mujo_edge.training.classifier import Classifier
from mujo_edge.training.models import ModalityConfig, ModelConfig, MujoModel, load_model_preset


def test_a_wrist_pooled_classifier_exports_to_the_same_function_and_to_onnx(tmp_path):
    import onnxruntime as ort

    arch = load_model_preset("wrist-pooled").arch
    model = MujoModel(ModelConfig(arch=arch, modalities=(ModalityConfig("wrist_acc", "sensor", 3),)), seed=0)
    clf = Classifier(model, {"wrist_acc": [0, 1, 2]}, {"wrist_acc": "wrist_acc"}, 7, 256, 0.3).eval()
    graph = export_module(clf)
    x = torch.randn(4, 3, 100)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), clf(x), rtol=0, atol=1e-5)  # same sums, other order
    path = tmp_path / "pooled.onnx"
    torch.onnx.export(graph, (torch.randn(1, 3, 100),), str(path), dynamo=True, opset_version=20)
    session = ort.InferenceSession(str(path))
    one = np.random.default_rng(0).normal(size=(1, 3, 100)).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: one})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, graph(torch.from_numpy(one)).numpy(), rtol=1e-4, atol=1e-5)
