"""The long fuzz benchmark runs (smoke size) and writes JSON + markdown with zero unexpected exceptions."""

import json


def test_fuzz_protocols_smoke(tmp_path, load_script) -> None:
    out = tmp_path / "fuzz.json"
    code = load_script("benchmarks/fuzz_protocols.py").main(["--frames", "2000", "--seed", "1", "--out", str(out)])
    assert code == 0
    saved = json.loads(out.read_text())
    assert set(saved["codecs"]) >= {"polar", "infinitime", "metawear", "banglejs", "mujo"}
    for stats in saved["codecs"].values():
        assert stats["frames"] >= 2000 and stats["unexpected"] == 0
        assert stats["decoded"] > 0 and stats["protocol_errors"] > 0
    assert "| codec |" in out.with_suffix(".md").read_text()
