"""Every example runs (smoke test) and does what its docstring says."""

import json
from pathlib import Path

import pytest

from mujo_edge.errors import UnknownNameError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_every_example_has_a_main(load_script):
    for path in EXAMPLES.glob("*.py"):
        assert callable(getattr(load_script(f"examples/{path.name}"), "main", None)), path


def test_prepare_dataset(tmp_path, shared_data, capsys, load_script):
    sizes = load_script("examples/prepare_dataset.py").main(
        ["spar_watch", "--root", str(shared_data / "spar_watch"), "--out", str(tmp_path)]
    )
    assert sizes["train"] > sizes["test"] > 0 and sizes["val"] > 0
    split = json.loads((tmp_path / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    assert json.loads((tmp_path / "normaliser.json").read_text())["channels"] == [
        "wrist_acc_x",
        "wrist_acc_y",
        "wrist_acc_z",
    ]
    assert "train" in capsys.readouterr().out


def test_prepare_dataset_unknown_dataset_is_a_clear_error(tmp_path, load_script):
    with pytest.raises(UnknownNameError):
        load_script("examples/prepare_dataset.py").main(["nope", "--out", str(tmp_path)])


def _spar_csvs(folder: Path, shared_data: Path, subjects=("1", "2", "3", "4"), classes=("PEN", "ABD")) -> Path:
    """A few SPAR recordings written in the bring-your-own CSV layout (what a user would bring)."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import load_recordings
    from mujo_edge.data.registry import get_loader

    folder.mkdir(parents=True, exist_ok=True)
    recs = load_recordings(
        get_loader("spar_watch"), shared_data / "spar_watch", ChannelSelection(placements=("wrist",), sensors=("acc",))
    )
    for r in recs:
        label = r.classes[r.labels[0]]
        if r.subject not in subjects or label not in classes:
            continue
        lines = ["timestamp[s],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2],label,subject"]
        lines += [f"{t:.3f},{x:.5f},{y:.5f},{z:.5f},{label},{r.subject}" for t, (x, y, z) in zip(r.t, r.x)]
        (folder / f"{r.recording_id}.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.slow
def test_csv_finetune_export_predict(tmp_path, shared_data, load_script, capsys):
    csvs = _spar_csvs(tmp_path / "csv", shared_data)
    result = load_script("examples/csv_finetune_export_predict.py").main(
        ["--csv", str(csvs), "--out", str(tmp_path / "out"), "--epochs", "3", "--format", "onnx"]
    )
    assert set(result["artifacts"]) == {"onnx-fp32", "onnx-int8"}
    out = capsys.readouterr().out
    assert "macro-F1" in out and result["test_subjects"]


def test_predict_recording_with_the_embedded_bundle(tmp_path, shared_data, load_script, capsys):
    csvs = _spar_csvs(tmp_path / "csv", shared_data, subjects=("5",), classes=("PEN", "ROW"))
    result = load_script("examples/predict_recording.py").main(["--data", str(csvs)])
    assert result["windows"] > 20 and 0.0 <= result["macro_f1"] <= 1.0
    assert result["artifact"] == "tflite-int8" and "PEN" in capsys.readouterr().out


def test_count_repetitions_live(shared_data, load_script, capsys):
    result = load_script("examples/count_repetitions.py").main(
        ["--speed", "40", "--sets", "2", "--data", str(shared_data / "spar_watch")]
    )
    assert result["predictions"] > 30 and result["sets"] == 2
    assert sum(result["reps"].values()) > 10  # two sets of 20 repetitions
    assert "repetitions counted" in capsys.readouterr().out
