"""The paper's Table 4 re-measured: encoder / projection FLOPs and parameters of every modality of a model
preset (one window, batch 1), next to the paper's numbers where a modality corresponds to one of its rows."""

from __future__ import annotations

from typing import Any

from mujo_edge.training.models import PAPER_TABLE4, MujoModel, load_model_preset, measure_flops, paper_row


def _pct(ours: float, paper: float) -> float:
    return 100.0 * (ours - paper) / paper


def measure_preset(preset: str, convention: str = "torch") -> dict[str, Any]:
    """{"preset", "convention", "config", "modalities": [per-modality costs], "table4": [ours vs paper]}."""
    config = load_model_preset(preset)
    model = MujoModel(config, seed=0)
    rows: list[dict[str, Any]] = []
    for m in config.modalities:
        cost = measure_flops(model, m.name, convention=convention)
        shape = model._encoder(m.name).input_shape
        rows.append({"modality": m.name, "kind": m.kind, "input": list(shape), **cost, "table4_row": paper_row(m)})
    comparison = []
    for r in rows:
        if r["table4_row"] is None:
            continue
        ref = PAPER_TABLE4[r["table4_row"]]
        comparison.append(
            {
                "modality": r["modality"],
                "table4_row": r["table4_row"],
                "ours": {k: r[k] for k in ref},
                "paper": ref,
                "diff_pct": {k: round(_pct(r[k], ref[k]), 4) for k in ref},
            }
        )
    return {
        "preset": preset,
        "convention": convention,
        "config": config.to_dict(),
        "modalities": rows,
        "table4": comparison,
    }
