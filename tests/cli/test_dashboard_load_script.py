"""The dashboard's load check (benchmarks/dashboard_load.py) runs at smoke size and writes JSON + markdown: no
sample lost, the frozen client dropped, the reading clients fed (rates are reported, not asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the dashboard comes with the serve extra")
pytest.importorskip("uvicorn", reason="the dashboard comes with the serve extra")
pytest.importorskip("bumble", reason="the emulated watches need the sim extra")


def test_dashboard_load_smoke(tmp_path: Path, shared_data: Path, load_script) -> None:
    out = tmp_path / "load.json"
    args = ["--watches", "2", "--readers", "1", "--no-browser", "--seconds", "25", "--baseline-seconds", "5"]
    load_script("benchmarks/dashboard_load.py").main(
        [*args, "--data", str(shared_data / "spar_watch"), "--out", str(out)]
    )
    saved = json.loads(out.read_text())
    for phase in ("baseline", "served"):
        rows = saved[phase]["watches"]
        assert len(rows) == 2 and all(r["samples"] > 0 and r["missing_samples"] == 0 for r in rows)
    clients = saved["served"]["browsers"]["clients"]
    assert clients[0]["frames"] > 0
    assert clients[1]["kind"].startswith("frozen") and clients[1]["cut_by_server"] is True
    assert saved["served"]["server"]["dropped_slow"] == 1
    assert "| client |" in out.with_suffix(".md").read_text()
