import numpy as np
import pytest

from mujo_edge.channels import Channel, ChannelSelection, triaxial
from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.recording import Recording

CH = triaxial("wrist", "acc", "m/s^2")


def make(t, x=None, **kw):
    t = np.asarray(t, dtype=float)
    x = np.zeros((len(t), 3), np.float32) if x is None else x
    return Recording.create(t, x, CH, subject="s1", source="rec.csv", **kw)


def test_valid_recording_has_shapes_and_defaults():
    r = make(np.arange(10) / 50)
    assert r.n_samples == 10 and r.x.shape == (10, 3) and r.x.dtype == np.float32
    assert r.channel_names == ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
    assert (r.labels == -1).all() and r.valid.all()
    assert r.native_rate_hz() == pytest.approx(50.0)
    assert r.duration_s == pytest.approx(0.18)


def test_empty_recording_is_an_error():
    with pytest.raises(SampleError, match="no samples"):
        make([])


def test_backwards_timestamp_names_the_line():
    with pytest.raises(SampleError) as e:
        Recording.create([0.0, 0.02, 0.01], np.zeros((3, 3)), CH, subject=1, source="f.csv", first_line=2)
    assert e.value.line == 4 and e.value.path == "f.csv" and "backwards" in str(e.value)


def test_duplicate_timestamp_is_an_error():
    with pytest.raises(SampleError, match="duplicate timestamp"):
        make([0.0, 0.02, 0.02, 0.04])


def test_nan_sample_names_line_and_channel():
    x = np.zeros((4, 3), np.float32)
    x[2, 1] = np.nan
    with pytest.raises(SampleError) as e:
        Recording.create(np.arange(4) / 50, x, CH, subject=1, source="f.csv", first_line=2)
    assert e.value.line == 4 and e.value.field == "wrist_acc_y"


def test_inf_timestamp_is_an_error():
    with pytest.raises(SampleError, match="non-finite timestamp"):
        make([0.0, np.inf])


def test_label_out_of_range():
    with pytest.raises(SampleError, match="outside the 2 classes"):
        make(np.arange(3) / 50, classes=("a", "b"), labels=np.array([0, 1, 2]))


def test_column_count_mismatch():
    with pytest.raises(SampleError, match="4 sample columns but 3 channels"):
        Recording.create(np.arange(3) / 50, np.zeros((3, 4)), CH, subject=1, source="f")


def test_select_keeps_order_and_rejects_empty_selection():
    chans = (*triaxial("wrist", "acc", "g"), *triaxial("wrist", "gyro", "deg/s"))
    r = Recording.create(np.arange(3) / 50, np.arange(18, dtype=np.float32).reshape(3, 6), chans, subject=1, source="f")
    gyro = r.select(ChannelSelection(sensors=("gyro",)))
    assert gyro.channel_names == ("wrist_gyro_x", "wrist_gyro_y", "wrist_gyro_z")
    np.testing.assert_array_equal(gyro.x, r.x[:, 3:])
    with pytest.raises(ConfigError, match="no channel matches"):
        r.select(ChannelSelection(placements=("ankle",)))


def test_channel_units_are_validated():
    assert Channel("wrist", "acc", "x", "g").to_si == pytest.approx(9.80665)
    assert Channel("wrist", "gyro", "x", "deg/s").to_si == pytest.approx(np.pi / 180)
    with pytest.raises(ConfigError, match="does not measure"):
        Channel("wrist", "acc", "x", "deg/s")
    with pytest.raises(ConfigError):
        Channel("Wrist", "acc", "x", "g")
    with pytest.raises(ConfigError):
        Channel.parse("wrist_acc")
