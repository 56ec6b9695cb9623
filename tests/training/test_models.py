"""MuJo encoders/projections: parameter and FLOP counts against the paper's Table 4, shapes, configs, presets."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError, UnknownNameError
from mujo_edge.training.models import (
    PAPER_TABLE4,
    ArchConfig,
    ModalityConfig,
    ModelConfig,
    MujoModel,
    available_model_presets,
    build_encoder,
    build_projection,
    count_parameters,
    load_model_preset,
    measure_flops,
    paper_row,
)

TABLE4_SENSOR_BRANCH = 4.558e6


def model_of(*modalities: tuple[str, str, int], arch: ArchConfig | None = None, seed: int = 0) -> MujoModel:
    cfg = ModelConfig(arch=arch or ArchConfig(), modalities=tuple(ModalityConfig(*m) for m in modalities))
    return MujoModel(cfg, seed=seed)


@pytest.fixture(scope="module")
def paper() -> MujoModel:
    return MujoModel(load_model_preset("paper"), seed=0)


# ------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("in_dim", "expected"), [(512, 3_938_560), (768, 4_266_240), (256, 3_610_880), (1024, 4_593_920)]
)
def test_projection_params_equal_table4(in_dim, expected):
    # Linear(in, 1280) + 2 x Linear(1280, 1280) + LayerNorm(1280); Table 4: 3.9386/4.2662/3.6109/4.5939 M
    assert expected == in_dim * 1280 + 1280 + 2 * (1280 * 1280 + 1280) + 2 * 1280
    assert count_parameters(build_projection(in_dim, ArchConfig())) == expected


def test_sensor_branch_default_is_the_issue_architecture_within_1pct_of_table4():
    m = model_of(("wrist_acc", "sensor", 3))
    convs = [c for c in m.encoders["wrist_acc"].modules() if isinstance(c, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 9, (3, 11)),
        (9, 15, (1, 11)),
        (15, 24, (1, 11)),
    ]
    assert m.encoders["wrist_acc"].flat_dim == 1200
    # 9*3*11+9 + 15*9*11+15 + 24*15*11+24 + 1200*512+512
    assert count_parameters(m.encoders["wrist_acc"]) == 306 + 1500 + 3984 + 614_912 == 620_702
    branch = count_parameters(m.branch("wrist_acc"))
    assert branch == 4_559_262
    assert abs(branch - TABLE4_SENSOR_BRANCH) / TABLE4_SENSOR_BRANCH < 0.01
    assert not any(isinstance(x, nn.Dropout) for x in m.encoders["wrist_acc"].modules())


def test_paper_preset_sensor_encoder_params_equal_table4_for_1_2_3_sensors(paper):
    # MM-Fit layout (axes as channels, groups 3, 3, 1): 619,415 + 99 per sensor
    assert [count_parameters(paper.encoders[n]) for n in ("sensor_1", "sensor_2", "sensor_3")] == [
        619_514,
        619_613,
        619_712,
    ]


def test_video_text_pose_encoder_params(paper):
    assert count_parameters(paper.encoders["video"]) == 328_192  # Table 4: 328.1920 K
    assert count_parameters(paper.encoders["text"]) == 1_180_416  # Table 4: 1.1804 M
    # Pose: grouped convs (1098 + 5460 + 43,584) + Linear(1200, 1024) + Linear(1024, 1024); Table 4: 2.3296 M
    assert paper.encoders["pose"].flat_dim == 1200
    assert count_parameters(paper.encoders["pose"]) == 50_142 + 1_229_824 + 1_049_600 == 2_329_566
    wrist_text = model_of(("text", "text", 384))
    assert count_parameters(wrist_text.encoders["text"]) == 384 * 768 + 768


def test_default_pose_encoder_has_the_same_size_as_the_paper_preset():
    m = model_of(("pose", "pose", 17))
    assert count_parameters(m.encoders["pose"]) == 2_329_566
    assert any(isinstance(x, nn.GELU) for x in m.encoders["pose"].convs)  # paper's prose; preset "paper" uses ReLU


# ------------------------------------------------------------------------------------------- FLOPs


def test_every_table4_cell_is_reproduced_under_the_paper_convention(paper):
    for name in paper.names:
        row = paper_row(paper.config.modality(name))
        ours = measure_flops(paper, name, convention="paper")
        for key, printed in PAPER_TABLE4[row].items():
            half_last_digit = 50 if printed >= 1e6 else 0.05  # Table 4 prints 4 decimals of M or K
            assert abs(ours[key] - printed) <= half_last_digit, (name, key, ours[key], printed)


def test_torch_flops_are_twice_the_multiply_adds():
    m = model_of(("wrist_acc", "sensor", 3), ("video", "video", 1024), ("text", "text", 1536))
    sensor = measure_flops(m, "wrist_acc")
    # convs at full time resolution (pool after conv 3), then Linear(1200, 512)
    assert sensor["encoder_flops"] == 2 * (9 * 33 * 100 + 15 * 99 * 100 + 24 * 165 * 100 + 1200 * 512) == 2_377_200
    assert sensor["projection_flops"] == 2 * (512 * 1280 + 2 * 1280 * 1280) == 7_864_320
    assert sensor["total_params"] == 4_559_262
    assert measure_flops(m, "video")["encoder_flops"] == 2 * (1024 * 256 + 256 * 256)
    assert measure_flops(m, "text")["encoder_flops"] == 2 * 1536 * 768


def test_pool_position_changes_flops_not_params():
    a = model_of(("s", "sensor", 3), arch=ArchConfig(sensor_pool_after=2))
    assert count_parameters(a) == count_parameters(model_of(("s", "sensor", 3)))
    assert measure_flops(a, "s")["encoder_flops"] == 2 * (9 * 33 * 100 + 15 * 99 * 100 + 24 * 165 * 50 + 1200 * 512)


def test_measure_flops_is_per_window_and_restores_mode():
    m = model_of(("s", "sensor", 6))
    m.train()
    assert measure_flops(m, "s", batch=4) == measure_flops(m, "s", batch=1)
    assert m.training
    with pytest.raises(ConfigError):
        measure_flops(m, "s", convention="fvcore")


# ------------------------------------------------------------------------------------------- shapes


def test_output_shapes(paper):
    b = 4
    inputs = {
        "text": torch.randn(b, 1536),
        "pose": torch.randn(b, 3, 17, 100),
        "video": torch.randn(b, 1024),
        "sensor_1": torch.randn(b, 3, 100),
        "sensor_2": torch.randn(b, 6, 100),
        "sensor_3": torch.randn(b, 9, 100),
    }
    paper.eval()
    out = paper(inputs)
    assert set(out) == set(inputs) and all(v.shape == (b, 1280) for v in out.values())
    feature_dims = {"text": 768, "pose": 1024, "video": 256, "sensor_1": 512, "sensor_2": 512, "sensor_3": 512}
    for name, dim in feature_dims.items():
        assert paper.encode_features(name, inputs[name]).shape == (b, dim)
    assert paper({"video": inputs["video"]}).keys() == {"video"}
    torch.testing.assert_close(paper.branch("sensor_2")(inputs["sensor_2"]), out["sensor_2"])
    # un-normalised; LayerNorm output has ~unit RMS per row, so norms are ~sqrt(1280), not 1
    assert out["text"].norm(dim=1).mean() > 5


def test_axes_as_channels_groups_rows_sensor_major():
    # rows are x, y, z of sensor 1 then x, y, z of sensor 2; with groups 3 the first conv's channels 0-2 see axis x
    m = model_of(("s", "sensor", 6), arch=ArchConfig(sensor_axes_as_channels=True, sensor_groups=(3, 3, 1)))
    conv1 = m.encoders["s"].convs[0]
    assert (conv1.in_channels, conv1.kernel_size, conv1.groups) == (3, (2, 11), 3)
    seen = {}
    conv1.register_forward_hook(lambda mod, i, o: seen.__setitem__("out", o.detach().clone()))
    x = torch.randn(2, 6, 100)
    m.encoders["s"](x)
    base = seen["out"]
    for row, axis in ((0, 0), (3, 0), (4, 1), (2, 2)):  # sensor 2's x is row 3, its y row 4; sensor 1's z row 2
        x2 = x.clone()
        x2[:, row] += 1.0
        m.encoders["s"](x2)
        changed = sorted({int(c) for c in (seen["out"] - base).abs().amax(dim=(0, 2, 3)).nonzero().flatten()})
        assert changed == [3 * axis, 3 * axis + 1, 3 * axis + 2], (row, changed)


@pytest.mark.parametrize(
    ("name", "x", "expected"),
    [
        ("sensor_1", torch.randn(2, 6, 100), "[B, 3, 100]"),
        ("sensor_1", torch.randn(2, 3, 50), "[B, 3, 100]"),
        ("sensor_1", torch.randn(3, 100), "[B, 3, 100]"),
        ("pose", torch.randn(2, 17, 3, 100), "[B, 3, 17, 100]"),
        ("video", torch.randn(2, 1536), "[B, 1024]"),
        ("text", torch.randn(2, 1536, 1), "[B, 1536]"),
    ],
)
def test_input_shape_errors_name_modality_and_shape(paper, name, x, expected):
    with pytest.raises(ConfigError) as e:
        paper.embed(name, x)
    assert f"'{name}'" in str(e.value) and expected in str(e.value) and e.value.field == name


def test_wrong_dtype_and_unknown_modality(paper):
    with pytest.raises(ConfigError, match="floating-point"):
        paper.embed("sensor_1", torch.zeros(2, 3, 100, dtype=torch.int64))
    with pytest.raises(UnknownNameError, match="wrist_gyro"):
        paper({"wrist_gyro": torch.randn(2, 3, 100)})


# ------------------------------------------------------------------------------------------- configs


def test_config_round_trip_through_json():
    for preset in available_model_presets():
        cfg = load_model_preset(preset)
        again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg and isinstance(again.arch.pose_kernel, tuple)
    m = ModalityConfig("wrist_imu", "sensor", 6)
    assert ModalityConfig.from_dict(m.to_dict()) == m


@pytest.mark.parametrize(
    "data",
    [
        {"arch": {}, "modalities": [], "extra": 1},
        {
            "arch": {"window": 100, "sensor_dimension": 512},
            "modalities": [{"name": "s", "kind": "sensor", "input_dim": 3}],
        },
        {"arch": {}, "modalities": [{"name": "s", "kind": "sensor", "input_dim": 3, "rate": 50}]},
        {"arch": {}, "modalities": [{"name": "s", "kind": "sensor"}]},
        {"modalities": [{"name": "s", "kind": "sensor", "input_dim": 3}]},
        {"arch": {}, "modalities": "s"},
    ],
)
def test_from_dict_rejects_unknown_and_missing_keys(data):
    with pytest.raises(ConfigError):
        ModelConfig.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"proj_dropout": 1.5}, "proj_dropout"),
        ({"sensor_kernel": 10}, "sensor_kernel/pose_kernel"),
        ({"sensor_channels": (9, 15)}, "sensor_groups"),
        ({"sensor_pool_after": 4}, "sensor_pool_after"),
        ({"sensor_groups": (3, 3, 1)}, "sensor_groups"),  # 1 input channel cannot be split in 3 groups
        ({"pose_activation": "swish"}, "pose_activation"),
        ({"text_dim": 0}, "text_dim"),
        ({"sensor_axes_as_channels": 1}, "sensor_axes_as_channels"),
    ],
)
def test_arch_validation(kwargs, field):
    with pytest.raises(ConfigError) as e:
        ArchConfig(**kwargs)
    assert e.value.field == field


def test_modality_and_model_validation():
    with pytest.raises(ConfigError, match="kind"):
        ModalityConfig("mic", "audio", 1)
    with pytest.raises(ConfigError):
        ModalityConfig("Wrist-Acc", "sensor", 3)
    with pytest.raises(ConfigError):
        ModalityConfig("s", "sensor", 0)
    s = ModalityConfig("s", "sensor", 3)
    with pytest.raises(ConfigError, match="unique"):
        ModelConfig(ArchConfig(), (s, s))
    with pytest.raises(ConfigError, match="multiples of 3"):
        ModelConfig(ArchConfig(sensor_axes_as_channels=True), (ModalityConfig("s", "sensor", 4),))


def test_same_seed_same_weights_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b, c = (model_of(("s", "sensor", 3), ("t", "text", 384), seed=s) for s in (7, 7, 8))
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_build_encoder_dispatches_on_kind():
    arch = ArchConfig()
    assert build_encoder(ModalityConfig("v", "video", 512), arch).out_dim == 256
    assert build_encoder(ModalityConfig("p", "pose", 25), arch).input_shape == (3, 25, 100)


# ------------------------------------------------------------------------------------------- presets


def test_presets_load_by_name_and_path(tmp_path):
    assert {"paper", "wrist"} <= set(available_model_presets())
    wrist = load_model_preset("wrist")
    assert [(m.name, m.kind, m.input_dim) for m in wrist.modalities] == [
        ("wrist_acc", "sensor", 3),
        ("text", "text", 384),
    ]
    assert wrist.arch == ArchConfig()
    paper = load_model_preset("paper")
    assert paper.arch.sensor_axes_as_channels and paper.arch.pose_activation == "relu"
    assert sorted(m.input_dim for m in paper.modalities if m.kind == "sensor") == [3, 6, 9]
    f = tmp_path / "mine.toml"
    f.write_text('[[modalities]]\nname = "pocket_acc"\nkind = "sensor"\ninput_dim = 3\n')
    assert load_model_preset(f).modality("pocket_acc").input_dim == 3
    assert load_model_preset(str(f)) == load_model_preset(f)


def test_unknown_preset_lists_available():
    with pytest.raises(UnknownNameError) as e:
        load_model_preset("papper")
    assert "paper" in e.value.known and "wrist" in str(e.value)


def test_bad_preset_files_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[arch]\nwindow = 100\nsensor_dim = = 3\n")
    with pytest.raises(LayoutError) as e:
        load_model_preset(bad)
    assert e.value.path == str(bad) and e.value.line == 3
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[arch]\nwindow = "long"\n[[modalities]]\nname = "s"\nkind = "sensor"\ninput_dim = 3\n')
    with pytest.raises(LayoutError, match="window") as e:
        load_model_preset(wrong)
    assert e.value.path == str(wrong)
    with pytest.raises(DataNotFoundError):
        load_model_preset(tmp_path / "missing.toml")
