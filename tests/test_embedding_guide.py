"""The embedding guide's stated contract (shapes, layout, channels, window, labels, file) matches the shipped
bundle, and the layout it describes is what the model really takes."""

import json
import re
from pathlib import Path

import numpy as np

from mujo_edge.bundle import read_bundle
from mujo_edge.default_model import bundle_path

GUIDE = Path(__file__).resolve().parents[1] / "examples" / "EMBEDDING.md"


def contract() -> dict:
    block = re.search(r"```json mujo-contract\n(.*?)```", GUIDE.read_text(), re.S)
    assert block, "the guide lost its contract block"
    return json.loads(block.group(1))


def test_guide_matches_the_shipped_bundle():
    c = contract()
    bundle = read_bundle(bundle_path())
    m = bundle.manifest
    raw = json.loads((bundle.folder / "mujo.json").read_text())
    assert c["input_layout"] == raw["input"]["layout"] and c["input_dtype"] == raw["input"]["dtype"]
    assert c["channels"] == list(m.channels) and c["units"] == list(m.units)
    assert c["sample_rate_hz"] == m.window.rate_hz
    assert c["window_length"] == m.window.length and c["window_step"] == m.window.step
    assert c["labels"] == list(m.labels) and c["output_shape"] == [1, len(m.labels)]
    art = m.artifact("tflite-int8")
    assert c["tflite_file"] == art.file and art.input_dtype == c["input_dtype"]


def test_the_stated_tensor_layout_is_what_the_model_takes():
    """Feed the model as the guide says (flat index c * 100 + t after z-scoring): LiteRT's tensor agrees."""
    from ai_edge_litert.interpreter import Interpreter

    c = contract()
    bundle = read_bundle(bundle_path())
    m = bundle.manifest
    interp = Interpreter(model_path=str(bundle.path_of(m.artifact("tflite-int8"))))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert list(inp["shape"]) == c["input_shape"] and list(out["shape"]) == c["output_shape"]
    window = np.random.default_rng(0).normal(0, 3, (100, 3)).astype(np.float32)  # [t, c] as a sensor delivers
    mean, std = np.array(m.normaliser.mean, np.float32), np.array(m.normaliser.std, np.float32)
    flat = np.empty(300, np.float32)
    for ch in range(3):
        for t in range(100):
            flat[ch * 100 + t] = (window[t, ch] - mean[ch]) / std[ch]
    interp.set_tensor(inp["index"], flat.reshape(c["input_shape"]))
    interp.invoke()
    by_guide = interp.get_tensor(out["index"])
    from mujo_edge.runtime import Recognizer

    logits, _ = Recognizer.from_bundle(bundle, artifact="tflite-int8").logits(window.T[None])
    np.testing.assert_allclose(by_guide, logits, atol=1e-5)
