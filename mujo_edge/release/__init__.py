"""Release scripts (application layer): steps that need both training's checkpoints and export, such as building
the embedded default bundle (`python -m mujo_edge.release.default_model`). Training never imports export, so
what joins them lives here, above both."""
