"""`mujo-edge pretrain` end to end on a small recipe: killed mid-run and resumed, it ends with exactly the
weights of an uninterrupted run; the run folder holds corpus, checkpoints, metrics and curves."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mujo_edge.training.checkpoints import read_pretrain

pytestmark = pytest.mark.slow

MODEL = """
[[modalities]]
name = "wrist_acc"
kind = "sensor"
input_dim = 3

[arch]
sensor_channels = [4, 4, 4]
sensor_dim = 32
text_dim = 32
proj_dim = 32
"""
RECIPE = """
model = "{model}"
[corpus]
modalities = ["wrist_acc", "wrist_gyro", "pocket_acc"]
real = ["spar_watch", "sp_sw_har"]
[train]
epochs = 16
batch_size = 64
warmup_epochs = 1
cycle_epochs = 4
min_lr = 1e-5
val_fraction = 0.2
threads = 1
[train.loss]
tau = 0.2
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    d = tmp_path_factory.mktemp("recipe")
    (d / "tiny.toml").write_text(MODEL)
    (d / "recipe.toml").write_text(RECIPE.format(model=d / "tiny.toml"))
    return d / "recipe.toml"


def cli(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "mujo_edge", "pretrain", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path, recipe, shared_data):
    data = ["--data", shared_data, "--exclude", "spar_watch"]
    full = cli("--preset", recipe, "--out", tmp_path / "full", *data)
    out, _ = full.communicate(timeout=600)
    assert full.returncode == 0, out
    assert "left out: spar_watch" in out and "pre-training done" in out

    killed = cli("--preset", recipe, "--out", tmp_path / "cut", *data)
    # wait on the condition (the third epoch's checkpoint, written atomically), then kill without warning; the
    # run is another process, so there is no event to wait on: poll the file every 50 ms up to a deadline
    ckpt, deadline = tmp_path / "cut" / "last.pt", time.monotonic() + 600
    while not (ckpt.is_file() and load_checkpoint(ckpt)["state"]["epoch"] >= 3):
        if killed.poll() is not None:
            pytest.fail(f"the run ended (exit {killed.returncode}) before its third epoch:\n{killed.communicate()[0]}")
        if time.monotonic() > deadline:
            killed.kill()
            pytest.fail("no third-epoch checkpoint within 600 s")
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["state"]["epoch"] < 16

    again = cli("--preset", recipe, "--out", tmp_path / "cut", *data)  # without --resume: refused
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 1 and "--resume" in out
    resumed = cli("--preset", recipe, "--out", tmp_path / "cut", "--resume", *data)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out

    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["state"] == b["state"]
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=0, atol=0)
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == list(range(1, 17))
    for f in ("best.pt", "config.json", "curves.png", "corpus/corpus.npz", "corpus/corpus.json"):
        assert (tmp_path / "cut" / f).is_file(), f
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert config["corpus"]["meta"]["exclude"] == ["spar_watch"]
    assert not any(s.startswith("spar_watch") for s in config["corpus"]["meta"]["sources"])


def test_resume_without_a_run_is_a_clear_error(tmp_path, recipe):
    r = cli("--preset", recipe, "--out", tmp_path / "none", "--resume")
    out, _ = r.communicate(timeout=120)
    assert r.returncode == 1 and "nothing to resume" in out and "Traceback" not in out


def test_unknown_preset_lists_the_known_ones(tmp_path):
    r = cli("--preset", "nope", "--out", tmp_path)
    out, _ = r.communicate(timeout=120)
    assert r.returncode == 1 and "wrist-exercise" in out


NO_DROPOUT = MODEL + "proj_dropout = 0.0\ntext_dropout = 0.0\n"


def test_torchrun_with_two_processes_trains_like_one(tmp_path, shared_data):
    (tmp_path / "tiny.toml").write_text(NO_DROPOUT)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE.format(model=tmp_path / "tiny.toml").replace("epochs = 16", "epochs = 2"))
    args = ["pretrain", "--preset", str(recipe), "--data", str(shared_data), "--exclude", "spar_watch"]
    one = subprocess.run(
        [sys.executable, "-m", "mujo_edge", *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stdout + one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "mujo_edge",
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert two.returncode == 0, two.stdout + two.stderr
    a = load_checkpoint(tmp_path / "one" / "last.pt")
    b = load_checkpoint(tmp_path / "two" / "last.pt")
    # same global batches and gradients averaged over the two ranks: equal up to float summation order.
    # Adam divides by sqrt(v), so a near-zero gradient's rounding noise can flip the sign of a whole step:
    # the tolerance is one step (lr 8e-4), while training moves weights by many steps
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=0, atol=1e-3)
    assert b["metrics"]["val_loss"] == pytest.approx(a["metrics"]["val_loss"], rel=1e-3)
    assert b["metrics"]["train_loss"] == pytest.approx(a["metrics"]["train_loss"], rel=1e-3)


def test_default_recipe_builds_its_full_corpus_and_trains(tmp_path, shared_data):
    """The shipped default (real + synthetic + text), one epoch: the corpus leaves the target out."""
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "pretrain",
            "--preset",
            "wrist-exercise",
            "--exclude",
            "spar_watch",
            "--epochs",
            "1",
            "--data",
            str(shared_data),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads((tmp_path / "corpus" / "corpus.json").read_text())
    assert set(info["sources"]) == {"sp_sw_har", "synthetic"}
    assert set(info["kinds"]) == {"wrist_acc", "wrist_gyro", "pocket_acc", "pose"}
    assert info["counts"]["pose"] > 10_000 and info["counts"]["pocket_acc"] == 1434
    metrics = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    for key in (
        "wrist_acc->text@sp_sw_har/balanced_top1",
        "wrist_acc->text@synthetic/balanced_top1",
        "wrist_acc->wrist_gyro/top1",
        "wrist_acc->pocket_acc/top1",
    ):
        assert 0.0 <= metrics[key] <= 1.0


def test_baseline_method_reuses_a_corpus_and_refuses_one_with_the_target(tmp_path, recipe, shared_data):
    base = ["--preset", recipe, "--data", shared_data, "--epochs", "1"]
    mujo = cli(*base, "--exclude", "spar_watch", "--out", tmp_path / "mujo")
    out, _ = mujo.communicate(timeout=600)
    assert mujo.returncode == 0, out
    ae = cli(
        *base,
        "--exclude",
        "spar_watch",
        "--method",
        "autoencoder",
        "--corpus",
        tmp_path / "mujo" / "corpus",
        "--out",
        tmp_path / "ae",
    )
    out, _ = ae.communicate(timeout=600)
    assert ae.returncode == 0, out
    ckpt = load_checkpoint(tmp_path / "ae" / "best.pt")
    assert ckpt["train_config"]["method"] == "autoencoder" and "head" in ckpt
    assert ckpt["corpus"]["exclude"] == ["spar_watch"]  # provenance of the reused corpus
    # a corpus built with sp_sw_har in it cannot be reused by a run that must leave sp_sw_har out
    bad = cli(
        *base,
        "--exclude",
        "sp_sw_har",
        "--method",
        "simclr",
        "--corpus",
        tmp_path / "mujo" / "corpus",
        "--out",
        tmp_path / "bad",
    )
    out, _ = bad.communicate(timeout=120)
    assert bad.returncode == 1 and "--corpus" in out and "sp_sw_har" in out and "Traceback" not in out
    wrong = cli(*base, "--method", "nope", "--out", tmp_path / "wrong")
    out, _ = wrong.communicate(timeout=120)
    assert wrong.returncode == 1 and "--method" in out


def load_checkpoint(path):
    """The on-disk layout of a pre-training checkpoint, read through the one checkpoint module."""
    return read_pretrain(path).to_dict()
