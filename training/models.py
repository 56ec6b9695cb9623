"""MuJo encoders and projections (paper section 4 "Model structure", Table 4), built from frozen configs.

Every modality m has an encoder e_m and a projection p_m to the shared 1280-d space; `MujoModel.embed` returns
p_m(e_m(x)) un-normalised (the contrastive loss normalises). Input layouts, B = batch, T = `ArchConfig.window`:
    sensor [B, rows, T] float32, channels first exactly as `Windows.x` (rows = 3 per tri-axial sensor)
    pose   [B, 3, joints, T] (x/y/z coordinate as channel)
    video / text [B, D] pre-extracted feature vectors (HERO-CLIP 1024; ada-002 1536 or MiniLM 384)

Choices where the paper is silent, all recorded in `ArchConfig`:
- Sensor CNN (the issue's reading, the default): Conv2d(1, 9, (rows, 11)) -> (9, 15, (1, 11)) -> (15, 24, (1, 11)),
  'same' in time, ReLU, one MaxPool (1, 2) after the third conv (as MM-Fit's ConvAutoencoder pools after its convs;
  Table 4's sensor FLOPs also imply 100 time steps through all three convs), flatten 24 x 50 -> Linear(1200, 512).
- Table 4 is reproduced *exactly* (parameters and, under `convention="paper"`, FLOPs) by MM-Fit's own layout:
  x/y/z axes as 3 input channels, kernel (sensors, 11), groups (3, 3, 1) (`sensor_axes_as_channels`,
  `sensor_groups`; preset "paper"). Sensor params are then 619,415 + 99 x sensors: 619,514 / 619,613 / 619,712 for
  MyoGym / MM-Fit / MHEALTH, i.e. 1 / 2 / 3 sensors (the paper's prose swaps MyoGym and MHEALTH; its table does not).
- Pose CNN, MM-Fit's skeleton model: three Conv2d (11, 11) with channels (9, 15, 24), groups (3, 3, 1), stride 2 over
  joints, padding 5, MaxPool (2, 2) -> 24 x 1 x 50 = 1200 -> Linear(1200, 1024) -> Linear(1024, 1024):
  2,329,566 params (Table 4: 2.3296 M). Table 4's pose FLOPs only add up with ReLU after the convs
  (`pose_activation`); the default keeps the paper's "GELU everywhere".
- Dense layers are Linear -> GELU -> Dropout; projections are [Linear -> GELU -> Dropout] x 2 -> Linear -> LayerNorm.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from mujo_edge.errors import ConfigError, LayoutError, UnknownNameError
from mujo_edge.training.preset_files import available, read_preset

KINDS = ("sensor", "pose", "video", "text")
ACTIVATIONS = ("relu", "gelu")
SENSOR_ENCODERS = ("mmfit", "pooled")
# string-valued ArchConfig fields and what each may be
SPECTRA = ("log_power", "log_magnitude")
_CHOICES = {
    "sensor_activation": ACTIVATIONS,
    "pose_activation": ACTIVATIONS,
    "sensor_encoder": SENSOR_ENCODERS,
    "sensor_spectrum": SPECTRA,
}
# integer fields for which 0 means "off"
_MAY_BE_ZERO = ("sensor_spectral_bins",)
FLOP_CONVENTIONS = ("torch", "paper")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_keys(cls: type, data: object, where: str) -> None:
    """Checkpoint and preset dicts: a mapping with no unknown keys and every required one."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"must be a table/dict, got {type(data).__name__}", field=where)
    fields = dataclasses.fields(cls)
    unknown = set(data) - {f.name for f in fields}
    missing = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in data
    ]
    if unknown or missing:
        raise ConfigError(f"unknown keys {sorted(unknown)}, missing keys {missing}", field=where)


@dataclass(frozen=True)
class ModalityConfig:
    """One input stream. input_dim: sensor = signal rows (3 per tri-axial sensor, 6 for acc + gyro),
    pose = joints (17), video/text = feature size."""

    name: str
    kind: str
    input_dim: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"must be lower-case letters, digits, '_', got {self.name!r}", field="modality.name")
        if self.kind not in KINDS:
            raise ConfigError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}", field="modality.kind")
        if not isinstance(self.input_dim, int) or isinstance(self.input_dim, bool) or self.input_dim < 1:
            raise ConfigError(
                f"{self.name}: must be an integer >= 1, got {self.input_dim!r}", field="modality.input_dim"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModalityConfig:
        _check_keys(cls, data, "modality")
        return cls(**data)


@dataclass(frozen=True)
class ArchConfig:
    """The architecture (see the module docstring for where each choice comes from). Kernels are odd."""

    window: int = 100
    sensor_encoder: str = "mmfit"
    sensor_spectral_bins: int = 0
    sensor_spectrum: str = "log_power"
    sensor_channels: tuple[int, ...] = (9, 15, 24)
    sensor_kernel: int = 11
    sensor_groups: tuple[int, ...] = (1, 1, 1)
    sensor_axes_as_channels: bool = False
    sensor_pool_after: int = 3
    sensor_activation: str = "relu"
    sensor_dim: int = 512
    pose_channels: tuple[int, ...] = (9, 15, 24)
    pose_kernel: tuple[int, ...] = (11, 11)
    pose_stride: tuple[int, ...] = (2, 1)
    pose_groups: tuple[int, ...] = (3, 3, 1)
    pose_pool: tuple[int, ...] = (2, 2)
    pose_activation: str = "gelu"
    pose_hidden: int = 1024
    pose_dim: int = 1024
    pose_dropout: float = 0.4
    video_hidden: int = 256
    video_dim: int = 256
    video_dropout: float = 0.3
    text_dim: int = 768
    text_dropout: float = 0.6
    proj_dim: int = 1280
    proj_layers: int = 3
    proj_dropout: float = 0.4

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v, default = getattr(self, f.name), f.default
            if isinstance(default, tuple):
                if isinstance(v, list):
                    v = tuple(v)
                    object.__setattr__(self, f.name, v)
                ok = isinstance(v, tuple) and len(v) > 0 and all(_is_int(i) and i >= 1 for i in v)
            elif isinstance(default, bool):
                ok = isinstance(v, bool)
            elif isinstance(default, int):
                ok = _is_int(v) and v >= (0 if f.name in _MAY_BE_ZERO else 1)
            elif isinstance(default, float):
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0
            else:
                ok = v in _CHOICES[f.name]
            if not ok:
                raise ConfigError(f"invalid value {v!r} (expected like {default!r})", field=f.name)
        # groups, axes-as-channels and the pool position shape the MM-Fit CNN only; the pooled one ignores them
        mmfit = self.sensor_encoder == "mmfit"
        for name, n in ((("sensor_groups", len(self.sensor_channels)),) if mmfit else ()) + (
            ("pose_groups", len(self.pose_channels)),
            ("pose_kernel", 2),
            ("pose_stride", 2),
            ("pose_pool", 2),
        ):
            if len(getattr(self, name)) != n:
                raise ConfigError(f"needs {n} values, got {getattr(self, name)}", field=name)
        if self.sensor_kernel % 2 == 0 or any(k % 2 == 0 for k in self.pose_kernel):
            raise ConfigError("kernels must be odd so 'same' padding is symmetric", field="sensor_kernel/pose_kernel")
        if not 1 <= self.sensor_pool_after <= len(self.sensor_channels):
            raise ConfigError(f"must be in 1..{len(self.sensor_channels)}", field="sensor_pool_after")
        if self.window < 2:
            raise ConfigError(f"must be >= 2, got {self.window}", field="window")
        if self.sensor_spectral_bins > self.window // 2:
            raise ConfigError(
                f"at most window // 2 = {self.window // 2} DFT bins, got {self.sensor_spectral_bins}",
                field="sensor_spectral_bins",
            )
        if mmfit:
            _check_groups("sensor", 3 if self.sensor_axes_as_channels else 1, self.sensor_channels, self.sensor_groups)
        _check_groups("pose", 3, self.pose_channels, self.pose_groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchConfig:
        _check_keys(cls, data, "arch")
        return cls(**data)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_groups(branch: str, in_ch: int, channels: tuple[int, ...], groups: tuple[int, ...]) -> None:
    for c_in, c_out, g in zip((in_ch, *channels[:-1]), channels, groups):
        if c_in % g or c_out % g:
            raise ConfigError(
                f"group count {g} must divide both {c_in} input and {c_out} output channels", field=f"{branch}_groups"
            )


@dataclass(frozen=True)
class ModelConfig:
    """An architecture plus the modalities it embeds (names unique; each gets its own encoder/projection)."""

    arch: ArchConfig
    modalities: tuple[ModalityConfig, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "modalities", tuple(self.modalities))
        if not isinstance(self.arch, ArchConfig) or not all(isinstance(m, ModalityConfig) for m in self.modalities):
            raise ConfigError("arch must be an ArchConfig and modalities ModalityConfigs", field="model")
        if not self.modalities:
            raise ConfigError("at least one modality is needed", field="modalities")
        names = [m.name for m in self.modalities]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"names must be unique, repeated: {dupes}", field="modalities")
        for m in self.modalities:
            if m.kind == "sensor" and self.arch.sensor_axes_as_channels and m.input_dim % 3:
                raise ConfigError(
                    f"{m.name}: sensor_axes_as_channels needs rows in multiples of 3 (x, y, z per "
                    f"sensor), got {m.input_dim}",
                    field="modality.input_dim",
                )

    def modality(self, name: str) -> ModalityConfig:
        for m in self.modalities:
            if m.name == name:
                return m
        raise UnknownNameError("modality", name, [m.name for m in self.modalities])

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "modalities": [m.to_dict() for m in self.modalities]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        _check_keys(cls, data, "model")
        if not isinstance(data["modalities"], (list, tuple)):
            raise ConfigError("must be a list of {name, kind, input_dim} tables", field="modalities")
        return cls(
            arch=ArchConfig.from_dict(data.get("arch", {})),
            modalities=tuple(ModalityConfig.from_dict(m) for m in data["modalities"]),
        )


# ---------------------------------------------------------------------------------------------- modules


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.GELU()


def _dense(d_in: int, d_out: int, dropout: float) -> list[nn.Module]:
    return [nn.Linear(d_in, d_out), nn.GELU(), nn.Dropout(dropout)]


class _Encoder(nn.Module):
    """Base: knows its modality, its per-window input shape and its output width; checks input at the boundary."""

    def __init__(self, modality: ModalityConfig, input_shape: tuple[int, ...], out_dim: int) -> None:
        super().__init__()
        self.modality = modality.name
        self.input_shape = input_shape
        self.out_dim = out_dim

    def check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ConfigError(
                f"modality '{self.modality}' expects input [B, {', '.join(map(str, self.input_shape))}], got {got}",
                field=self.modality,
            )
        if not x.is_floating_point():
            raise ConfigError(
                f"modality '{self.modality}' expects a floating-point tensor, got {x.dtype}", field=self.modality
            )


class SensorEncoder(_Encoder):
    """[B, rows, T] -> [B, sensor_dim]: the MM-Fit CNN over time, kernel spanning all rows (or all sensors)."""

    def __init__(self, modality: ModalityConfig, arch: ArchConfig) -> None:
        super().__init__(modality, (modality.input_dim, arch.window), arch.sensor_dim)
        self.axes_as_channels = arch.sensor_axes_as_channels
        in_ch, height = (3, modality.input_dim // 3) if self.axes_as_channels else (1, modality.input_dim)
        layers: list[nn.Module] = []
        time = arch.window
        for i, (c_out, g) in enumerate(zip(arch.sensor_channels, arch.sensor_groups)):
            kh = height if i == 0 else 1
            layers += [
                nn.Conv2d(in_ch, c_out, (kh, arch.sensor_kernel), padding=(0, arch.sensor_kernel // 2), groups=g),
                _activation(arch.sensor_activation),
            ]
            if i + 1 == arch.sensor_pool_after:
                layers.append(nn.MaxPool2d((1, 2)))
                time //= 2
            in_ch = c_out
        if time < 1:
            raise ConfigError(f"window {arch.window} is too short for the pooling", field="window")
        self.convs = nn.Sequential(*layers)
        self.flat_dim = in_ch * time
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(self.flat_dim, arch.sensor_dim), nn.GELU())

    def forward(self, x: Tensor) -> Tensor:
        self.check(x)
        rows, t = self.input_shape
        # sensor-major rows (x, y, z of sensor 1, then sensor 2 ...) -> [B, 3 axes, sensors, T]
        x = x.reshape(-1, rows // 3, 3, t).transpose(1, 2) if self.axes_as_channels else x.unsqueeze(1)
        return self.head(self.convs(x))


class SpectralFeatures(nn.Module):
    """A fixed DFT written as two matrix products: [B, S, T] -> [B, S, bins], per bin 1..bins of the de-meaned,
    Hann-windowed signal either log(1 + |X|^2) (`log_power`) or log(1 + |X|) with |X| approximated as
    max(|re|, |im|) + 0.4 min(|re|, |im|) (`log_magnitude`, error <= 8 %). Plain MatMul keeps one input tensor
    and needs no FFT op. Why the second: int8 engines quantise every intermediate tensor on one linear scale,
    and the squared parts of a power spectrum span 0..~2500, so weak bins all round to 0 (measured on SPAR:
    -16 macro-F1 points in int8); |re| and |im| span only what the MatMul output already spans."""

    cos: Tensor  # buffers [window, bins]
    sin: Tensor

    def __init__(self, window: int, bins: int, spectrum: str = "log_power") -> None:
        super().__init__()
        if spectrum not in SPECTRA:
            raise ConfigError(f"must be one of {SPECTRA}, got {spectrum!r}", field="sensor_spectrum")
        self.spectrum = spectrum
        n = torch.arange(window, dtype=torch.float64)
        k = torch.arange(1, bins + 1, dtype=torch.float64)
        angle = 2 * torch.pi * n[:, None] * k[None, :] / window
        hann = torch.hann_window(window, periodic=False, dtype=torch.float64)[:, None]
        self.register_buffer("cos", (torch.cos(angle) * hann).float())
        self.register_buffer("sin", (torch.sin(angle) * hann).float())

    def forward(self, x: Tensor) -> Tensor:
        x = x - x.mean(dim=-1, keepdim=True)
        return spectrum_features(x @ self.cos, x @ self.sin, self.spectrum)


def spectrum_features(re: Tensor, im: Tensor, spectrum: str) -> Tensor:
    """The spectral features of DFT parts `re`, `im` (see `SpectralFeatures`); one home for the export graph too."""
    if spectrum == "log_power":
        return torch.log1p(re * re + im * im)
    re, im = re.abs(), im.abs()
    return torch.log1p(torch.maximum(re, im) + 0.4 * torch.minimum(re, im))


class PooledSensorEncoder(_Encoder):
    """[B, rows, T] -> [B, sensor_dim], shift-invariant (mujo-edge's `wrist` preset; the paper's CNN is
    `SensorEncoder`).

    Why: the MM-Fit CNN flattens 50 time steps into its dense layer, so a repetition that starts a little later
    in the window looks like a different input; with few labels that cannot be learned. Here each tri-axial
    sensor also gets its magnitude as a row (orientation-free), `sensor_channels` Conv1d blocks (conv, batch norm,
    activation; max-pool by 2 between the middle blocks) end in the mean and the max over time, and, with
    `sensor_spectral_bins` > 0, every row's DFT log power, mean and standard deviation join them (what the
    feature forest sees: repetition rate and axis energy). A Linear layer maps all of it to `sensor_dim`.
    """

    def __init__(self, modality: ModalityConfig, arch: ArchConfig) -> None:
        super().__init__(modality, (modality.input_dim, arch.window), arch.sensor_dim)
        rows = modality.input_dim
        self.sensors = rows // 3 if rows % 3 == 0 else 0
        in_ch = rows + self.sensors
        layers: list[nn.Module] = []
        last = len(arch.sensor_channels) - 1
        for i, c_out in enumerate(arch.sensor_channels):
            layers += [
                nn.Conv1d(in_ch, c_out, arch.sensor_kernel, padding=arch.sensor_kernel // 2),
                nn.BatchNorm1d(c_out),
                _activation(arch.sensor_activation),
            ]
            if 0 < i < last:
                layers.append(nn.MaxPool1d(2))
            in_ch = c_out
        self.convs = nn.Sequential(*layers)
        self.spectral = (
            SpectralFeatures(arch.window, arch.sensor_spectral_bins, arch.sensor_spectrum)
            if arch.sensor_spectral_bins
            else None
        )
        width = 2 * in_ch + ((rows + self.sensors) * (arch.sensor_spectral_bins + 2) if self.spectral else 0)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, arch.sensor_dim), nn.GELU())

    def with_magnitudes(self, x: Tensor) -> Tensor:
        """[B, rows, T] -> [B, rows + sensors, T]: the Euclidean norm of each x, y, z triple appended."""
        if not self.sensors:
            return x
        t = x.shape[-1]
        mags = torch.sqrt((x.reshape(-1, self.sensors, 3, t) ** 2).sum(dim=2) + 1e-12)
        return torch.cat([x, mags], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        self.check(x)
        return self.pooled(self.with_magnitudes(x))

    def pooled(self, x: Tensor, spectral: nn.Module | None = None) -> Tensor:
        """[B, rows + sensors, T] (magnitudes appended) -> [B, sensor_dim]. `spectral` replaces the spectral
        module by an equal function (the export graph's convolution form)."""
        h = self.convs(x)
        parts = [h.mean(dim=-1), h.amax(dim=-1)]
        if self.spectral is not None:
            parts += [
                (spectral if spectral is not None else self.spectral)(x).flatten(1),
                x.mean(dim=-1),
                x.std(dim=-1),
            ]
        return self.head(torch.cat(parts, dim=1))


class PoseEncoder(_Encoder):
    """[B, 3, joints, T] -> [B, pose_dim]: three 2-D convs over (joints, time), pool, two dense layers."""

    def __init__(self, modality: ModalityConfig, arch: ArchConfig) -> None:
        super().__init__(modality, (3, modality.input_dim, arch.window), arch.pose_dim)
        (kj, kt), (sj, st), (pj, pt) = arch.pose_kernel, arch.pose_stride, arch.pose_pool
        layers: list[nn.Module] = []
        in_ch, joints, time = 3, modality.input_dim, arch.window
        for c_out, g in zip(arch.pose_channels, arch.pose_groups):
            layers += [
                nn.Conv2d(in_ch, c_out, (kj, kt), stride=(sj, st), padding=(kj // 2, kt // 2), groups=g),
                _activation(arch.pose_activation),
            ]
            joints, time, in_ch = (joints - 1) // sj + 1, (time - 1) // st + 1, c_out
        layers.append(nn.MaxPool2d((pj, pt)))
        joints, time = joints // pj, time // pt
        if joints < 1 or time < 1:
            raise ConfigError(
                f"{modality.name}: {modality.input_dim} joints x {arch.window} frames vanish under "
                f"stride {arch.pose_stride} and pool {arch.pose_pool}",
                field="pose_pool",
            )
        self.convs = nn.Sequential(*layers)
        self.flat_dim = in_ch * joints * time
        self.head = nn.Sequential(
            nn.Flatten(),
            *_dense(self.flat_dim, arch.pose_hidden, arch.pose_dropout),
            *_dense(arch.pose_hidden, arch.pose_dim, arch.pose_dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        self.check(x)
        return self.head(self.convs(x))


class DenseEncoder(_Encoder):
    """[B, D] -> [B, widths[-1]]: Linear -> GELU -> Dropout per width (video: 256, 256; text: 768)."""

    def __init__(self, modality: ModalityConfig, widths: tuple[int, ...], dropout: float) -> None:
        super().__init__(modality, (modality.input_dim,), widths[-1])
        layers: list[nn.Module] = []
        for d_in, d_out in zip((modality.input_dim, *widths[:-1]), widths):
            layers += _dense(d_in, d_out, dropout)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        self.check(x)
        return self.net(x)


def build_encoder(modality: ModalityConfig, arch: ArchConfig) -> _Encoder:
    """The encoder e_m for one modality, chosen by its kind."""
    if modality.kind == "sensor":
        return PooledSensorEncoder(modality, arch) if arch.sensor_encoder == "pooled" else SensorEncoder(modality, arch)
    if modality.kind == "pose":
        return PoseEncoder(modality, arch)
    if modality.kind == "video":
        return DenseEncoder(modality, (arch.video_hidden, arch.video_dim), arch.video_dropout)
    return DenseEncoder(modality, (arch.text_dim,), arch.text_dropout)


def build_projection(in_dim: int, arch: ArchConfig) -> nn.Sequential:
    """p_m: [B, in_dim] -> [B, proj_dim]; (proj_layers - 1) x [Linear, GELU, Dropout], Linear, LayerNorm."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(arch.proj_layers - 1):
        layers += _dense(d, arch.proj_dim, arch.proj_dropout)
        d = arch.proj_dim
    return nn.Sequential(*layers, nn.Linear(d, arch.proj_dim), nn.LayerNorm(arch.proj_dim))


class MujoModel(nn.Module):
    """Encoders and projections for every modality of a `ModelConfig`, as ModuleDicts keyed by modality name.

    seed: if given, weights are initialised from this seed without touching the global RNG state.
    """

    def __init__(self, config: ModelConfig, seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            encoders = {m.name: build_encoder(m, config.arch) for m in config.modalities}
            self.encoders = nn.ModuleDict(encoders)
            self.projections = nn.ModuleDict({n: build_projection(e.out_dim, config.arch) for n, e in encoders.items()})

    @property
    def names(self) -> list[str]:
        return list(self.encoders)

    @property
    def embed_dim(self) -> int:
        return self.config.arch.proj_dim

    def _encoder(self, name: str) -> _Encoder:
        if name not in self.encoders:
            raise UnknownNameError("modality", name, self.names)
        return self.encoders[name]  # type: ignore[return-value]

    def encode_features(self, name: str, x: Tensor) -> Tensor:
        """e_m(x): [B, feature_dim] before projection (512 sensor, 1024 pose, 256 video, 768 text)."""
        return self._encoder(name)(x)

    def embed(self, name: str, x: Tensor) -> Tensor:
        """p_m(e_m(x)): [B, proj_dim], not normalised."""
        features = self.encode_features(name, x)  # checks the name first
        return self.projections[name](features)

    def branch(self, name: str) -> nn.Sequential:
        """Encoder + projection of one modality as one module sharing these weights (classifiers, export)."""
        return nn.Sequential(self._encoder(name), self.projections[name])

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Embed every modality present in `inputs` (name -> tensor); unknown names are an error."""
        return {name: self.embed(name, x) for name, x in inputs.items()}


# ---------------------------------------------------------------------------------------------- cost


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _elementwise_hooks(module: nn.Module, counter: list[int]) -> list[Any]:
    """Table 4's convention on top of matmul/conv FLOPs (inferred: it reproduces every Table 4 cell):
    one op per bias add and ReLU output, one per max-pool input, four per LayerNorm element, GELU free."""

    def hook(m: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> None:
        if (isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None) or isinstance(m, nn.ReLU):
            counter[0] += out.numel()
        elif isinstance(m, nn.MaxPool2d):
            counter[0] += inp[0].numel()
        elif isinstance(m, nn.LayerNorm):
            counter[0] += 4 * out.numel()

    return [m.register_forward_hook(hook) for m in module.modules()]


def _flops(module: nn.Module, x: Tensor, convention: str) -> tuple[int, Tensor]:
    extra = [0]
    handles = _elementwise_hooks(module, extra) if convention == "paper" else []
    try:
        with FlopCounterMode(display=False) as fc:
            out = module(x)
    finally:
        for h in handles:
            h.remove()
    return fc.get_total_flops() + extra[0], out


def measure_flops(model: MujoModel, name: str, batch: int = 1, convention: str = "torch") -> dict[str, int]:
    """FLOPs of one forward pass per window (eval mode, no grad) and parameters of a modality's branch.

    convention "torch": `torch.utils.flop_counter` (2 per multiply-add of matmul/conv, nothing else);
    "paper": plus the elementwise ops Table 4 counts (see `_elementwise_hooks`).
    """
    if convention not in FLOP_CONVENTIONS:
        raise ConfigError(f"must be one of {FLOP_CONVENTIONS}, got {convention!r}", field="convention")
    if batch < 1:
        raise ConfigError(f"must be >= 1, got {batch}", field="batch")
    encoder, projection = model._encoder(name), model.projections[name]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            enc, feats = _flops(encoder, torch.zeros(batch, *encoder.input_shape), convention)
            proj, _ = _flops(projection, feats, convention)
    finally:
        model.train(was_training)
    out = {
        "encoder_flops": enc // batch,
        "encoder_params": count_parameters(encoder),
        "projection_flops": proj // batch,
        "projection_params": count_parameters(projection),
    }
    out["total_flops"] = out["encoder_flops"] + out["projection_flops"]
    out["total_params"] = out["encoder_params"] + out["projection_params"]
    return out


# Table 4 of the paper, as printed (FLOPs of a batch-1 forward pass); keys as in `measure_flops`.
PAPER_TABLE4: dict[str, dict[str, float]] = {
    row: dict(
        zip(
            ("encoder_flops", "encoder_params", "projection_flops", "projection_params", "total_flops", "total_params"),
            values,
        )
    )
    for row, values in {
        "Text": (2.3601e6, 1.1804e6, 8.5286e6, 4.2662e6, 10.8887e6, 5.4467e6),
        "Pose": (38.1508e6, 2.3296e6, 9.1840e6, 4.5939e6, 47.3348e6, 6.9235e6),
        "Video": (655.8720e3, 328.1920e3, 7.2179e6, 3.6109e6, 7.8738e6, 3.9391e6),
        "Sensor (MyoGym, MotionSense)": (2.1521e6, 619.5140e3, 7.8733e6, 3.9386e6, 10.0254e6, 4.5581e6),
        "Sensor (MM-Fit)": (2.1719e6, 619.6130e3, 7.8733e6, 3.9386e6, 10.0452e6, 4.5582e6),
        "Sensor (MHEALTH)": (2.1917e6, 619.7120e3, 7.8733e6, 3.9386e6, 10.0650e6, 4.5583e6),
    }.items()
}
_PAPER_ROWS = {
    ("text", 1536): "Text",
    ("pose", 17): "Pose",
    ("video", 1024): "Video",
    ("sensor", 3): "Sensor (MyoGym, MotionSense)",
    ("sensor", 6): "Sensor (MM-Fit)",
    ("sensor", 9): "Sensor (MHEALTH)",
}


def paper_row(modality: ModalityConfig) -> str | None:
    """The Table 4 row with this modality's kind and input size (sensor rows 3/6/9 = 1/2/3 sensors), or None."""
    return _PAPER_ROWS.get((modality.kind, modality.input_dim))


# ---------------------------------------------------------------------------------------------- presets


def available_model_presets() -> list[str]:
    return available("models")


def load_model_preset(name_or_path: str | Path) -> ModelConfig:
    """A `ModelConfig` from a named preset (training/presets/models/NAME.toml) or a TOML file path.

    File layout: optional `description`, an `[arch]` table (ArchConfig fields; omitted ones keep defaults) and
    `[[modalities]]` tables with name, kind, input_dim.
    """
    data, where = read_preset("models", name_or_path)
    data.pop("description", None)
    data.setdefault("arch", {})
    try:
        return ModelConfig.from_dict(data)
    except (ConfigError, TypeError) as e:
        raise LayoutError(f"not a valid model preset: {e}", path=where) from e
