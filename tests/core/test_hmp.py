"""The HMP loader: the real published files, and every way a file in that layout can be wrong."""

from pathlib import Path

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.data.hmp import CLASSES, Hmp, decode
from mujo_edge.data.prepare import prepare
from mujo_edge.errors import LayoutError, SampleError
from mujo_edge.units import STANDARD_GRAVITY

NAME = "Accelerometer-2011-03-24-09-51-07-walk-f1.txt"


def write(root: Path, folder: str, name: str, text: str) -> Path:
    (root / folder).mkdir(parents=True, exist_ok=True)
    path = root / folder / name
    path.write_text(text)
    return path


def test_decode_maps_the_coded_range_to_plus_minus_one_and_a_half_g():
    g = decode(np.array([0, 63, 21])) / STANDARD_GRAVITY
    assert g == pytest.approx([-1.5, 1.5, -0.5], abs=1e-6)


def test_real_files_subjects_classes_and_specific_force(shared_data):
    root = shared_data / "hmp"
    loader = Hmp()
    parts = loader.parts(root)
    assert len(parts) == 839
    recs = [r for p in parts for r in loader.read(root, p, ChannelSelection())]
    assert {r.subject for r in recs} == {f"f{i}" for i in range(1, 6)} | {f"m{i}" for i in range(1, 12)}
    assert {r.classes[r.labels[0]] for r in recs} == set(CLASSES)
    assert sum(r.n_samples for r in recs) == 446_529
    # walking with the arm hanging: x points down to the hand, so specific force reads about -1 g there
    walk = np.concatenate([r.x for r in recs if r.classes[r.labels[0]] == "WALK"])
    assert walk[:, 0].mean() < -0.7 * STANDARD_GRAVITY
    assert np.median(np.linalg.norm(walk, axis=1)) == pytest.approx(STANDARD_GRAVITY, rel=0.1)


def test_real_windows_at_50_hz(shared_data):
    p = prepare("hmp", shared_data / "hmp", cache=False)
    assert p.windows.channels == ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
    assert p.windows.x.shape[1:] == (3, 100)
    assert len(p.summary.subjects) == 16
    assert set(p.summary.class_windows) == set(CLASSES)
    assert p.summary.native_rate_hz[1] == pytest.approx(32.0)


def test_a_user_copy_anywhere_loads_and_model_folders_are_skipped(tmp_path):
    write(tmp_path, "Walk", NAME, "32 47 40\n31 46 34\n\n")
    write(tmp_path, "walk_MODEL", NAME, "32 47 40\n")
    loader = Hmp()
    assert loader.parts(tmp_path) == [f"Walk/{NAME}"]
    (rec,) = loader.read(tmp_path, f"Walk/{NAME}", ChannelSelection())
    assert rec.subject == "f1" and rec.n_samples == 2 and rec.meta["side"] == "right"
    assert rec.t[1] == pytest.approx(1 / 32)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("32 47 40\n32 47\n", 2, "2 values"),
        ("32 47 40\n32 x 40\n", 2, "integers"),
        ("32 47 40\n32 64 40\n", 2, "out of 0..63"),
        ("32 47 40\n\n32 47 40\n", 2, "0 values"),
    ],
)
def test_a_bad_line_is_named(tmp_path, text, line, words):
    write(tmp_path, "Walk", NAME, text)
    with pytest.raises(SampleError, match=words) as e:
        Hmp().read(tmp_path, f"Walk/{NAME}", ChannelSelection())
    assert e.value.line == line and NAME in str(e.value)


def test_empty_file_wrong_name_and_wrong_folder_are_refused(tmp_path):
    write(tmp_path, "Walk", NAME, "\n")
    with pytest.raises(SampleError, match="no samples"):
        Hmp().read(tmp_path, f"Walk/{NAME}", ChannelSelection())
    write(tmp_path, "Walk", "walk-f1.txt", "32 47 40\n")
    with pytest.raises(LayoutError, match="file name"):
        Hmp().read(tmp_path, "Walk/walk-f1.txt", ChannelSelection())
    write(tmp_path, "Comb_hair", NAME, "32 47 40\n")
    with pytest.raises(LayoutError, match="folder 'Comb_hair'"):
        Hmp().read(tmp_path, f"Comb_hair/{NAME}", ChannelSelection())


def test_not_this_dataset(tmp_path):
    with pytest.raises(LayoutError, match="no Accelerometer"):
        Hmp().parts(tmp_path)
    (tmp_path / "Juggle").mkdir()
    with pytest.raises(LayoutError, match="unknown primitive folder 'Juggle'"):
        Hmp().parts(tmp_path)
