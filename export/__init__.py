"""Export (imported as `mujo_edge.export`): checkpoints -> model bundles (TFLite, ExecuTorch, ONNX).

Imports `mujo_edge.training.models`, never the reverse; heavy toolchains are imported lazily per format.
"""
