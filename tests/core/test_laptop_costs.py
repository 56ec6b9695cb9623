"""benchmarks/laptop_costs.py (issue 14, item 5): it times the two steps as separate processes, reads what they
wrote, judges them against the limits, and its committed results agree with their markdown and the README."""

import json
import sys

import pytest

from tests.conftest import REPO

RESULTS = REPO / "benchmarks" / "results"

# stands in for `python -m mujo_edge`: writes what pretrain and label-efficiency write, or fails on request
FAKE_CLI = """
import json, os, sys
from pathlib import Path
args = sys.argv[2:]
out = Path(args[args.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
if os.environ.get("FAKE_FAIL") == args[0]:
    print("boom"); sys.exit(3)
if args[0] == "pretrain":
    (out / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "seconds": 10.0 + e}) + "\\n" for e in (1, 2)))
    (out / "best.pt").write_bytes(b"x")
    (out / "corpus").mkdir(exist_ok=True)
    (out / "corpus" / "corpus.json").write_text(json.dumps({"version": 1, "windows": 123}))
else:
    (out / "results.csv").write_text(
        "method,regime,fraction,fold,run,seed,macro_f1,seconds\\n"
        "recipe,finetuned,0.02,1,1,0,0.7,4.5\\nrecipe,finetuned,0.02,2,2,1010,0.8,5.5\\n"
        "none,baseline,0.02,1,1,0,0.6,2\\nrandom_forest,-,0.02,1,1,0,0.65,\\n"
    )
"""


def test_both_steps_are_timed_parsed_and_judged(tmp_path, load_script, monkeypatch):
    bench = load_script("benchmarks/laptop_costs.py")
    fake = tmp_path / "fake_cli.py"
    fake.write_text(FAKE_CLI)
    cli = [sys.executable, str(fake), "mujo_edge"]
    out, work = tmp_path / "out", tmp_path / "work"
    results = bench.main(["--data", str(tmp_path), "--out", str(out), "--work", str(work)], cli=cli)
    pre, grid = results["pretrain"], results["grid"]
    assert pre["epochs"] == 2 and pre["epoch_seconds"] == [11.0, 12.0] and pre["windows"] == 123
    assert pre["command"].startswith("mujo-edge pretrain --preset wrist-real --exclude spar_watch")
    assert pre["within_limit"] and grid["within_limit"] and pre["threads"] == 2
    assert grid["runs"] == 4 and grid["run_seconds_by_method"] == {
        "none (baseline)": 2.0,
        "random_forest (-)": 0.0,
        "recipe (finetuned)": 10.0,
    }
    assert f"--pretrained recipe={work / 'pretrain' / 'best.pt'}" in grid["command"]
    assert "--finetune=min_batches=16" in grid["command"]
    assert json.loads((out / "laptop_costs.json").read_text()) == results
    md = (out / "laptop_costs.md").read_text()
    assert md == bench.markdown(results) and "| pre-training | 2 |" in md

    # a later run of one step keeps the other step's measurement; a failing step names its log
    monkeypatch.setenv("FAKE_FAIL", "experiment")
    with pytest.raises(SystemExit, match=r"grid\.log"):
        bench.main(["--out", str(out), "--work", str(work), "--steps", "grid"], cli=cli)
    assert json.loads((out / "laptop_costs.json").read_text()) == results
    monkeypatch.delenv("FAKE_FAIL")
    again = bench.main(["--out", str(out), "--work", str(work), "--steps", "grid", "--threads", "1"], cli=cli)
    assert again["pretrain"] == pre and again["grid"]["threads"] == 1
    # the timed runs against committed runs of the same cells, the checkpoint under its committed name
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "results.csv").write_text(
        "method,regime,fraction,fold,run,seed,macro_f1\n"
        "real#1,finetuned,0.02,1,1,0,0.7\nreal#1,finetuned,0.02,2,2,1010,0.81\nnone,baseline,0.02,1,1,0,0.6\n"
        "real#1,finetuned,0.1,1,1,0,0.9\n"
    )
    checked = bench.main(
        [
            "--out",
            str(out),
            "--work",
            str(work),
            "--steps",
            "",
            "--reproduces",
            str(committed),
            "--recipe-as",
            "real#1",
        ],
        cli=cli,
    )
    rep = checked["grid"]["reproduces"]
    assert rep["matched_runs"] == 3 and rep["max_abs_macro_f1_difference"] == pytest.approx(0.01)
    assert checked["grid"]["seconds"] == again["grid"]["seconds"]  # nothing re-timed
    assert "3 of them are cells committed in" in (out / "laptop_costs.md").read_text()
    with pytest.raises(SystemExit, match="no timed grid"):
        bench.main(["--out", str(out), "--work", str(tmp_path / "w2"), "--steps", "", "--reproduces", str(committed)])
    with pytest.raises(SystemExit, match="no pre-training checkpoint"):
        bench.main(["--out", str(out), "--work", str(tmp_path / "empty"), "--steps", "grid"], cli=cli)
    with pytest.raises(SystemExit, match="unknown"):
        bench.main(["--out", str(out), "--steps", "pretrian"], cli=cli)


def test_committed_results_match_their_markdown_and_the_readme(load_script):
    bench = load_script("benchmarks/laptop_costs.py")
    saved = json.loads((RESULTS / "laptop_costs.json").read_text())
    assert (RESULTS / "laptop_costs.md").read_text() == bench.markdown(saved)
    readme = (REPO / "README.md").read_text()
    assert bench.update_readme(readme, saved) == readme, (
        "README's cost block differs from benchmarks/results/laptop_costs.json: run "
        "python benchmarks/laptop_costs.py --out benchmarks/results --readme README.md"
    )
    for step in ("pretrain", "grid"):
        assert step in saved, f"laptop_costs.json has no {step} measurement"
        assert saved[step]["invocation"].startswith("python benchmarks/laptop_costs.py")
