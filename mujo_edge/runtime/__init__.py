"""The on-device runtime: load a model bundle on LiteRT, ExecuTorch or ONNX Runtime and recognise activity.

Torch-free (numpy and scipy only) except for the ExecuTorch engine, whose Python runtime needs torch.

```python
from mujo_edge.runtime import Recognizer
rec = Recognizer.from_bundle("bundle.zip")          # best usable artifact on an installed engine
predictions = rec.predict_recording(recording)      # offline, windows exactly as in training
live = rec.stream()                                 # live: push samples, get predictions
for p in live.push(t, x): print(p.start_s, p.label, p.confidence)
```
"""

from mujo_edge.runtime.engines import ENGINES, Engine, EngineSpec, EngineUnavailableError, load_engine
from mujo_edge.runtime.prediction import Prediction, softmax
from mujo_edge.runtime.recognizer import Recognizer, StreamingRecognizer, candidate_artifacts
from mujo_edge.runtime.stream import StreamWindow, StreamWindower
from mujo_edge.smoothing import Smoother

__all__ = [
    "ENGINES",
    "Engine",
    "EngineSpec",
    "EngineUnavailableError",
    "Prediction",
    "Recognizer",
    "Smoother",
    "StreamWindow",
    "StreamWindower",
    "StreamingRecognizer",
    "candidate_artifacts",
    "load_engine",
    "softmax",
]
