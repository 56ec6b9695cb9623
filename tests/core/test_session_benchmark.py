"""benchmarks/session_tracking.py: its committed results agree with their markdown, and it runs on your own CSV
sets with a repetition count beside them."""

import json

import numpy as np
import pytest

from mujo_edge.errors import DataError
from tests.conftest import REPO

RESULTS = REPO / "benchmarks" / "results"
RATE = 50.0
G = 9.81


def write_set(path, reps, period_s, label, seed):
    """A bring-your-own CSV of one set: still 3 s, `reps` raises of `period_s`, still 3 s (wrist acc, m/s^2)."""
    rng = np.random.default_rng(seed)
    phase = np.arange(int(reps * period_s * RATE)) / (period_s * RATE)
    angle = np.concatenate([np.zeros(150), 0.25 * np.pi * (1 - np.cos(2 * np.pi * phase)), np.zeros(150)])
    xyz = np.stack([G * np.sin(angle), np.full_like(angle, 0.2), G * np.cos(angle)], axis=1)
    xyz += rng.normal(scale=0.1, size=xyz.shape)
    rows = ["timestamp[s],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2],label,subject"]
    rows += [f"{i / RATE:.3f},{x:.4f},{y:.4f},{z:.4f},{label},me" for i, (x, y, z) in enumerate(xyz)]
    path.write_text("\n".join(rows) + "\n")


def test_own_csv_sets_with_their_repetitions(tmp_path, load_script):
    data = tmp_path / "sets"
    data.mkdir()
    write_set(data / "curls.csv", 12, 2.0, "curl", 0)
    write_set(data / "raises.csv", 9, 3.0, "raise", 1)
    write_set(data / "unknown.csv", 5, 2.0, "curl", 2)
    (data / "mujo-reps.toml").write_text('[reps]\n"curls.csv" = 12\n"raises.csv" = 10\n')
    bench = load_script("benchmarks/session_tracking.py")
    results = bench.main(["--csv", str(data), "--out", str(tmp_path / "out")])
    own = results["own_csv"]
    assert own["overall"]["sets"] == 2 and own["recordings_without_reps"] == ["unknown.csv"]
    assert sorted((s["label"], s["error"]) for s in own["sets"]) == [("curl", 0), ("raise", -1)]
    assert own["overall"]["within_1"] == 1.0 and own["overall"]["within_2"] == 1.0
    assert json.loads((tmp_path / "out" / "session_tracking_csv.json").read_text())["own_csv"] == own
    (data / "mujo-reps.toml").unlink()
    with pytest.raises(DataError, match=r"mujo-reps\.toml"):
        bench.main(["--csv", str(data), "--out", str(tmp_path / "out")])


def test_committed_results_match_their_markdown(load_script):
    saved = json.loads((RESULTS / "session_tracking.json").read_text())
    assert saved["command"].startswith("python benchmarks/session_tracking.py")
    bench = load_script("benchmarks/session_tracking.py")
    assert (RESULTS / "session_tracking.md").read_text() == bench.markdown(saved)
    assert saved["repetitions"]["overall"]["sets"] == 140
    assert saved["sessions"]["defaults_match_calibration"], "SessionConfig's defaults differ from the calibration"
    assert saved["counter_defaults_match"], "RepetitionConfig's defaults differ from the counter the benchmark chose"


def test_readme_block_is_generated_from_the_committed_results(load_script):
    saved = json.loads((RESULTS / "session_tracking.json").read_text())
    bench = load_script("benchmarks/session_tracking.py")
    readme = (REPO / "README.md").read_text()
    assert bench.update_readme(readme, saved) == readme, (
        "README's session block differs from benchmarks/results/session_tracking.json: run "
        "python benchmarks/session_tracking.py --out benchmarks/results --readme README.md"
    )
