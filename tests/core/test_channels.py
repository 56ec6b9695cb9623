"""Tri-axial stream grouping and selecting channels by name: one rule, the order of the names given."""

import numpy as np
import pytest

from mujo_edge.channels import channel_indices, triaxial, triaxial_streams
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, MissingChannelsError
from mujo_edge.recording import Recording
from mujo_edge.windows import Windows, window_recording


def test_streams_in_order_of_first_channel_with_rows_x_y_z():
    names = ["b_acc_z", "a_gyro_x", "b_acc_x", "b_acc_y", "a_gyro_y", "a_gyro_z"]
    streams = triaxial_streams(names)
    assert list(streams) == ["b_acc", "a_gyro"]
    assert streams == {"b_acc": (2, 3, 0), "a_gyro": (1, 4, 5)}


def test_incomplete_streams_are_skipped_or_refused_when_strict():
    names = ["wrist_acc_x", "wrist_acc_y", "wrist_acc_z", "wrist_gyro_x", "wrist_gyro_y", "heart"]
    assert triaxial_streams(names) == {"wrist_acc": (0, 1, 2)}
    with pytest.raises(ConfigError, match="heart"):
        triaxial_streams(names, strict=True)
    with pytest.raises(ConfigError, match="'wrist_gyro' lacks an axis"):
        triaxial_streams(names[:5], strict=True)
    assert triaxial_streams(names[:3], strict=True) == {"wrist_acc": (0, 1, 2)}


def test_channel_indices_follow_the_wanted_order_and_name_what_is_missing():
    have = ("a_x", "a_y", "a_z")
    assert channel_indices(have, ["a_z", "a_x"]) == [2, 0]
    with pytest.raises(MissingChannelsError) as e:
        channel_indices(have, ["a_y", "b_x", "c_x"], source="f.csv")
    assert isinstance(e.value, ConfigError) and e.value.field == "channels"
    assert e.value.missing == ("b_x", "c_x") and e.value.available == have
    assert str(e.value).startswith("channels: f.csv: no channels ['b_x', 'c_x']")


def recording() -> Recording:
    chans = (*triaxial("wrist", "acc", "m/s^2"), *triaxial("wrist", "gyro", "rad/s"))
    x = np.arange(200 * 6, dtype=np.float32).reshape(200, 6)
    return Recording.create(
        np.arange(200) / 50, x, chans, subject=1, source="rec.csv", classes=("a",), labels=np.zeros(200, np.int16)
    )


def test_recording_with_channels_reorders_columns_and_keeps_the_rest():
    r = recording()
    g = r.with_channels(["wrist_gyro_z", "wrist_acc_x"])
    assert g.channel_names == ("wrist_gyro_z", "wrist_acc_x")
    assert g.channels[0].unit == "rad/s"
    np.testing.assert_array_equal(g.x, r.x[:, [5, 0]])
    assert g.t is r.t and g.labels is r.labels and g.subject == r.subject and g.source == r.source
    assert r.with_channels(r.channel_names) is r
    with pytest.raises(MissingChannelsError, match=r"rec\.csv: no channels \['ankle_acc_x'\]"):
        r.with_channels(["wrist_acc_x", "ankle_acc_x"])
    with pytest.raises(ConfigError, match="no channels asked for"):
        r.with_channels([])


def test_windows_with_channels_reorders_rows_and_keeps_labels_and_counts():
    w = window_recording(recording(), WindowConfig())
    w = Windows(
        x=w.x,
        y=w.y,
        subject=w.subject,
        recording=w.recording,
        start=w.start,
        channels=w.channels,
        classes=w.classes,
        config=w.config,
        dropped={"gap": 2},
    )
    s = w.with_channels(("wrist_gyro_x", "wrist_gyro_y", "wrist_gyro_z", "wrist_acc_z"))
    assert s.channels == ("wrist_gyro_x", "wrist_gyro_y", "wrist_gyro_z", "wrist_acc_z")
    np.testing.assert_array_equal(s.x, w.x[:, [3, 4, 5, 2]])
    assert np.array_equal(s.y, w.y) and np.array_equal(s.start, w.start) and dict(s.dropped) == {"gap": 2}
    assert w.with_channels(w.channels) is w
    with pytest.raises(MissingChannelsError) as e:
        w.with_channels(["wrist_mag_x"])
    assert e.value.missing == ("wrist_mag_x",)
