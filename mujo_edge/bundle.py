"""The model bundle: the only contract between training/export and the device.

A bundle is a folder (or a .zip of one) holding model files and one `mujo.json`. The manifest says
everything a device needs to feed the model exactly as it was trained, so nothing on the device guesses:

- input: shape [batch, channels, length] in "NCL" layout, float32, already z-scored by the runtime with the
  bundle's `normaliser` (model files never contain the normalisation);
- channels (names in input order, SI units), sample rate, window length and step (`WindowConfig`);
- labels and the text of each label; training provenance (`Provenance`: the dataset and the subject split the
  demo and the benchmarks score against); metrics measured at export;
- one `Artifact` per model file: format, precision, engine, its own I/O dtypes and layout, size, sha256 and
  the parity measured against torch fp32 at export.

Status, precision and engine are `StrEnum`s: their values are the strings `mujo.json` has always held, so the
JSON is unchanged, and a misspelt value is refused when the manifest is read instead of when a device runs it.

This module is torch-free (numpy only, through the normaliser): it runs on any device. Reading verifies the
schema version and every file's size and sha256, so a truncated copy or a swapped file is refused with the file named.

A bundle is untrusted input and a closed world: every field of `mujo.json` is checked when it is read (size,
nesting, UTF-8, types, a rate a wearable can have, an input shape the window and channels agree with), a model
file is a plain name of a regular file inside the bundle (no folder, `..`, absolute path or link), and a .zip
beyond the archive limits below is refused before anything is unpacked. Each refusal is a BundleError naming
the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import weakref
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TypeVar

from mujo_edge.channels import Channel, ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, DataError, DataNotFoundError, LayoutError
from mujo_edge.metrics import dumps_strict
from mujo_edge.normalise import Normaliser

MANIFEST = "mujo.json"
SCHEMA = "mujo-edge/bundle"
SCHEMA_VERSION = 1
INPUT_LAYOUT = "NCL"  # [batch, channels, samples]: the layout of Windows.x, kept through every converter
INPUT_DTYPE = "float32"
IO_DTYPES = ("float32", "int8", "uint8")  # what a model file may take and return (int8: --int8-io TFLite)
KINDS = ("classifier", "encoder")

# What a bundle can be. A bundle is mujo.json and a handful of model files (the largest exported so far is
# ~45 MB over five files), so anything far beyond that is refused before a byte is unpacked or parsed.
MAX_ARCHIVE_ENTRIES = 64
MAX_BUNDLE_BYTES = 512 * 2**20  # total uncompressed size of a zipped bundle
MAX_COMPRESSION_RATIO = 100  # model weights deflate 1-4x; a member that inflates 100x is a zip bomb
RATIO_FLOOR_BYTES = 2**20  # below this a member cannot hurt, and a small mujo.json may deflate well
MAX_MANIFEST_BYTES = 2**20  # mujo.json is ~10 KB
MAX_JSON_DEPTH = 32  # mujo.json nests 6 deep; deeper is a parser attack, not a manifest
# A wearable samples between these (the grid and every window buffer is sized from the rate)
MIN_RATE_HZ, MAX_RATE_HZ = 1.0, 1000.0
ACTIVATIONS = ("", "static", "dynamic")
MAX_WINDOW_S = 60.0  # activity windows are seconds long; the runtime holds one per channel in memory


class ArtifactStatus(StrEnum):
    """What export concluded about one artifact."""

    PASS = "pass"  # exported and within the parity tolerance of torch fp32
    FAILED_PARITY = "exported-but-failed"  # a usable file that lost more accuracy than allowed
    EXPORT_FAILED = "export-failed"  # no file: the converter raised (the reason is in `notes`)


class Precision(StrEnum):
    """Numeric precision of a model file's weights and activations."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class EngineName(StrEnum):
    """The runtime engine registry's names (`mujo_edge.runtime.engines.ENGINES`): what runs a model file."""

    LITERT = "litert"
    EXECUTORCH = "executorch"
    ONNXRUNTIME = "onnxruntime"


class BundleError(DataError):
    """A bundle that cannot be used: missing or truncated file, wrong hash, unknown schema, bad field."""


_E = TypeVar("_E", bound=StrEnum)


def _member(kind: type[_E], value: str, where: str) -> _E:
    """`value` as a member of `kind`; LayoutError listing the allowed values otherwise."""
    try:
        return kind(value)
    except ValueError:
        raise LayoutError(f"must be one of {[m.value for m in kind]}, got {value!r}", field=where) from None


def plain_name(value: Any, where: str) -> str:
    """`value` if it names a file directly inside the bundle folder; LayoutError otherwise.

    A bundle is a closed world: a path with a folder, `..`, a drive or a root could reach (run, or hash for
    `bundle inspect`) any file on the host, so only a bare file name is accepted."""
    if not isinstance(value, str) or value in ("", ".", "..") or any(c in value for c in "/\\:\0"):
        raise LayoutError(
            f"must be a plain file name inside the bundle (no folder, '..', drive or absolute path), got {value!r}",
            field=where,
        )
    return value


def _quant(value: Any, where: str) -> tuple[float, int] | None:
    """An int8 tensor's (scale, zero point): a finite scale > 0 and an integer zero point of int8/uint8."""
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok or not (math.isfinite(value[0]) and value[0] > 0) or not float(value[1]).is_integer():
        raise LayoutError(f"must be [scale > 0, integer zero point], got {value!r}", field=where)
    if not -128 <= value[1] <= 255:
        raise LayoutError(f"zero point {value[1]} is outside int8/uint8", field=where)
    return float(value[0]), int(value[1])


@dataclass(frozen=True)
class SubjectSplit:
    """The subjects a model was trained, validated (early stopping) and tested on; `test` is held out."""

    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    test: tuple[str, ...] = ()

    @property
    def seen(self) -> tuple[str, ...]:
        """Subjects the model learnt from or was selected on (train and val), sorted."""
        return tuple(sorted({*self.train, *self.val}))

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[Any]]) -> SubjectSplit:
        unknown = sorted(set(data) - {"train", "val", "test"})
        if unknown:
            raise LayoutError(f"unknown split parts {unknown}; expected train, val, test", field="training.split")
        # subject ids are strings everywhere (loaders, splits); numbers in a hand-written manifest are accepted
        return cls(**{k: tuple(str(s) for s in v) for k, v in data.items()})


def _check_data(data: Any) -> None:
    """training.data (see `data.provenance.DataProvenance.summary`): the fields readers use are typed."""
    if data is None:
        return
    if not isinstance(data, Mapping):
        raise LayoutError(f"expected an object, got {type(data).__name__}", field="training.data")
    root = data.get("root")
    if root is not None and not isinstance(root, str):
        raise LayoutError(f"expected a folder name, got {root!r}", field="training.data.root")
    rates = data.get("native_rate_hz")
    if rates is None:
        return
    ok = (
        isinstance(rates, list)
        and len(rates) == 3
        and all(isinstance(r, int | float) and not isinstance(r, bool) for r in rates)
        and all(0 < r <= 1e4 for r in rates)  # the loaders' own bounds on a measured rate, NaN refused
    )
    if not ok:
        raise LayoutError(
            f"expected [min, median, max] positive rates in Hz, got {rates!r}",
            field="training.data.native_rate_hz",
        )


@dataclass(frozen=True)
class Provenance:
    """Where a model's training data came from (`mujo.json` "training").

    `dataset` and `split` are what the demo and the benchmarks score against (the held-out `split.test`
    subjects); `details` keeps the rest as written at export (pretrained_from, finetune, model_config, head).
    """

    dataset: str | None = None
    split: SubjectSplit | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def held_out(self) -> tuple[str, ...]:
        """Subjects the model never saw (empty when the bundle does not record its split)."""
        return () if self.split is None else self.split.test

    @property
    def source_rate_hz(self) -> float | None:
        """The (median) rate the training recordings were made at, before resampling to the window's rate; None
        when the bundle does not record it (exported before data provenance existed)."""
        rates = self.details.get("data", {}).get("native_rate_hz")
        return None if rates is None else float(rates[1])

    @property
    def data_root(self) -> str | None:
        """Where training read its data (a folder on the training machine)."""
        root = self.details.get("data", {}).get("root")
        return None if root is None else str(root)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.split is not None:
            out["split"] = self.split.to_dict()
        return {**out, **self.details}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        split = data.get("split")
        dataset = data.get("dataset")
        if dataset is not None and not isinstance(dataset, str):
            raise LayoutError(f"expected a dataset name, got {dataset!r}", field="training.dataset")
        if split is not None and not isinstance(split, Mapping):
            raise LayoutError(f"expected an object of subject lists, got {split!r}", field="training.split")
        _check_data(data.get("data"))
        return cls(
            dataset=dataset,
            split=None if split is None else SubjectSplit.from_dict(split),
            details={k: v for k, v in data.items() if k not in ("dataset", "split")},
        )


@dataclass(frozen=True)
class Artifact:
    """One model file of a bundle (or a failed attempt at one: `status` export-failed and no file)."""

    name: str  # e.g. "tflite-int8"; unique in the bundle
    format: str  # "tflite" | "executorch" | "onnx" (export's format registry names)
    precision: Precision
    file: str | None  # path relative to the bundle folder; None when the export failed
    engine: EngineName  # the runtime engine that runs it
    status: ArtifactStatus = ArtifactStatus.PASS
    sha256: str | None = None
    bytes: int | None = None
    input_dtype: str = "float32"  # "int8" for --int8-io TFLite models (then input_quant holds scale/zero point)
    output_dtype: str = "float32"
    input_quant: tuple[float, int] | None = None  # (scale, zero_point) of an int8 input
    output_quant: tuple[float, int] | None = None
    parity: Mapping[str, Any] = field(default_factory=dict)  # max_abs_logit_diff, top1_agreement, macro_f1, ...
    notes: str = ""  # e.g. why the export failed
    # int8 models: "static" (activations int8 with ranges calibrated at export) or "dynamic" (int8 weights,
    # activations quantised per inference from their own range: no calibration error, float I/O); "" otherwise
    activations: str = ""

    def __post_init__(self) -> None:
        # mujo.json holds plain strings: convert them here so every reader (and every caller passing a literal
        # value) gets the enum, and an unknown value is refused with the field named
        where = f"artifacts.{self.name}"
        object.__setattr__(self, "status", _member(ArtifactStatus, self.status, f"{where}.status"))
        object.__setattr__(self, "precision", _member(Precision, self.precision, f"{where}.precision"))
        object.__setattr__(self, "engine", _member(EngineName, self.engine, f"{where}.engine"))
        if self.status != ArtifactStatus.EXPORT_FAILED and not self.file:
            raise LayoutError("an exported artifact needs a file", field=f"{where}.file")
        if self.file is not None:
            plain_name(self.file, f"{where}.file")
        for which in ("input", "output"):
            dtype = getattr(self, f"{which}_dtype")
            if dtype not in IO_DTYPES:
                raise LayoutError(f"must be one of {list(IO_DTYPES)}, got {dtype!r}", field=f"{where}.{which}_dtype")
            quant = _quant(getattr(self, f"{which}_quant"), f"{where}.{which}_quant")
            object.__setattr__(self, f"{which}_quant", quant)
        if self.activations not in ACTIVATIONS:
            raise LayoutError(
                f"must be one of {list(ACTIVATIONS)}, got {self.activations!r}", field=f"{where}.activations"
            )
        if self.bytes is not None and (
            isinstance(self.bytes, bool) or not isinstance(self.bytes, int) or self.bytes < 0
        ):
            raise LayoutError(f"must be a byte count, got {self.bytes!r}", field=f"{where}.bytes")

    @property
    def usable(self) -> bool:
        return self.file is not None and self.status != ArtifactStatus.EXPORT_FAILED

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            status=self.status.value, precision=self.precision.value, engine=self.engine.value, parity=dict(self.parity)
        )
        if not self.activations:  # written only when it says something, so older readers see no new key
            del d["activations"]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> Artifact:
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise BundleError(f"expected an object with a name, got {data!r:.80}", path=source, field="artifacts")
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            return cls(**kwargs)
        except TypeError as e:
            raise BundleError(f"invalid artifact entry: {e}", path=source, field="artifacts") from None


@dataclass(frozen=True)
class Manifest:
    """The content of `mujo.json` (see the module docstring)."""

    channels: tuple[str, ...]
    units: tuple[str, ...]
    window: WindowConfig
    normaliser: Normaliser
    labels: tuple[str, ...]
    label_texts: Mapping[str, str]
    artifacts: tuple[Artifact, ...] = ()
    kind: str = "classifier"  # or "encoder" (outputs the joint-space embedding instead of logits)
    training: Provenance = field(default_factory=Provenance)  # dataset, split, pretrained_from, finetune config
    metrics: Mapping[str, Any] = field(default_factory=dict)  # measured in training and at export
    versions: Mapping[str, str] = field(default_factory=dict)  # tool versions used to export
    created: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.training, Provenance):
            # the JSON object export and older callers pass; typed once here so readers never index by string
            object.__setattr__(self, "training", Provenance.from_dict(self.training))
        if len(self.channels) != len(self.units):
            raise LayoutError("channels and units differ in length", field="input.units")
        if tuple(self.normaliser.channels) != tuple(self.channels):
            raise LayoutError(
                f"normaliser channels {self.normaliser.channels} differ from the input channels {self.channels}",
                field="normaliser.channels",
            )
        names = [a.name for a in self.artifacts]
        if len(set(names)) != len(names):
            raise LayoutError(f"artifact names repeat: {names}", field="artifacts")
        if self.kind not in KINDS:
            raise LayoutError(f"must be one of {list(KINDS)}, got {self.kind!r}", field="kind")
        _distinct_strings(self.labels, "labels")
        _distinct_strings(self.channels, "input.channels")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.label_texts.items()):
            raise LayoutError("expected label -> text strings", field="label_texts")
        self._check_window()

    def _check_window(self) -> None:
        """A rate and window a wearable can have: the runtime sizes its grid and buffers from them."""
        w = self.window
        if not MIN_RATE_HZ <= w.rate_hz <= MAX_RATE_HZ:
            raise LayoutError(
                f"{w.rate_hz:g} Hz is not a wearable's sample rate ({MIN_RATE_HZ:g} to {MAX_RATE_HZ:g} Hz)",
                field="window.rate_hz",
            )
        if w.window_s > MAX_WINDOW_S:
            raise LayoutError(
                f"a window of {w.length} samples lasts {w.window_s:g} s, more than {MAX_WINDOW_S:g} s",
                field="window.length",
            )

    @property
    def input_shape(self) -> tuple[int, int]:
        """[channels, samples] of one window; the batch dimension comes first."""
        return len(self.channels), self.window.length

    def channel_selection(self) -> ChannelSelection:
        """The placements and sensors of the input channels: what to load from a dataset for this model."""
        parsed = [Channel.parse(c) for c in self.channels]
        return ChannelSelection(
            placements=tuple(sorted({c.placement for c in parsed})), sensors=tuple(sorted({c.sensor for c in parsed}))
        )

    def artifact(self, name: str) -> Artifact:
        for a in self.artifacts:
            if a.name == name:
                return a
        raise BundleError(f"no artifact {name!r}; the bundle has {[a.name for a in self.artifacts]}", field="artifacts")

    def with_artifacts(self, artifacts: Sequence[Artifact]) -> Manifest:
        return replace(self, artifacts=tuple(artifacts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "created": self.created,
            "input": {
                "shape": ["batch", *self.input_shape],
                "layout": INPUT_LAYOUT,
                "dtype": "float32",
                "channels": list(self.channels),
                "units": list(self.units),
                "sample_rate_hz": self.window.rate_hz,
                "normalised_by": "runtime (z-score, see normaliser)",
            },
            "window": self.window.to_dict(),
            "normaliser": self.normaliser.to_dict(),
            "labels": list(self.labels),
            "label_texts": dict(self.label_texts),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "training": self.training.to_dict(),
            "metrics": dict(self.metrics),
            "versions": dict(self.versions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = MANIFEST) -> Manifest:
        if data.get("schema") != SCHEMA:
            raise BundleError(
                f"not a mujo-edge bundle manifest (schema {data.get('schema')!r})", path=source, field="schema"
            )
        if data.get("schema_version") != SCHEMA_VERSION:
            raise BundleError(
                f"schema version {data.get('schema_version')!r} is not supported (this mujo-edge "
                f"reads version {SCHEMA_VERSION})",
                path=source,
                field="schema_version",
            )
        try:
            inp = _object(data, "input", source)
            window = _window(_object(data, "window", source), source)
            channels = _strings(inp, "channels", "input", source)
            _check_input(inp, len(channels), window, source)
            return cls(
                channels=channels,
                units=_strings(inp, "units", "input", source),
                window=window,
                normaliser=_normaliser(_object(data, "normaliser", source), source),
                labels=_strings(data, "labels", "", source),
                label_texts=dict(_object(data, "label_texts", source, {})),
                artifacts=tuple(Artifact.from_dict(a, source) for a in _list(data, "artifacts", source)),
                kind=data.get("kind", "classifier"),
                training=Provenance.from_dict(_object(data, "training", source, {})),
                metrics=_object(data, "metrics", source, {}),
                versions=_object(data, "versions", source, {}),
                created=data.get("created", ""),
            )
        except (LayoutError, ConfigError) as e:
            raise BundleError(e.message, path=source, field=e.field) from None
        except (TypeError, ValueError, AttributeError) as e:
            raise BundleError(f"invalid manifest: {e}", path=source) from None


# --- reading mujo.json: every field checked, each error naming it --------------------------------------


def _object(
    data: Mapping[str, Any], key: str, source: str, default: Mapping[str, Any] | None = None
) -> Mapping[str, Any]:
    """data[key] as a JSON object; `default` when absent (a missing key is an error without one)."""
    if key not in data:
        if default is None:
            raise BundleError("missing key", path=source, field=key)
        return default
    value = data[key]
    if not isinstance(value, Mapping):
        raise BundleError(f"expected a JSON object, got {value!r:.60}", path=source, field=key)
    return value


def _list(data: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise BundleError(f"expected a list, got {value!r:.60}", path=source, field=key)
    return value


def _strings(data: Mapping[str, Any], key: str, parent: str, source: str) -> tuple[str, ...]:
    where = f"{parent}.{key}" if parent else key
    if key not in data:
        raise BundleError("missing key", path=source, field=where)
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BundleError(f"expected a list of strings, got {value!r:.60}", path=source, field=where)
    return tuple(value)


def _distinct_strings(values: Sequence[str], where: str) -> None:
    if not all(isinstance(v, str) and v for v in values):
        raise LayoutError(f"expected non-empty names, got {list(values)}", field=where)
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise LayoutError(f"names repeat: {repeated}", field=where)


def _window(data: Mapping[str, Any], source: str) -> WindowConfig:
    """WindowConfig of the manifest's "window", its numbers typed here (the config itself trusts its caller)."""
    number = (int, float)
    for key, kinds in (
        ("length", int),
        ("step", int),
        ("rate_hz", number),
        ("max_gap_s", number),
        ("min_purity", number),
    ):
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, kinds):
            expected = "a whole number of samples" if kinds is int else "a number"
            raise BundleError(f"must be {expected}, got {value!r:.40}", path=source, field=f"window.{key}")
    try:
        return WindowConfig.from_dict(dict(data))
    except ConfigError as e:
        field_name = "window" if e.field in (None, "window") else f"window.{e.field}"
        raise BundleError(e.message, path=source, field=field_name) from None
    except (TypeError, ValueError) as e:
        raise BundleError(f"invalid window: {e}", path=source, field="window") from None


def _normaliser(data: Mapping[str, Any], source: str) -> Normaliser:
    try:
        return Normaliser.from_dict(dict(data), source)
    except LayoutError as e:
        raise BundleError(e.message, path=source, field=f"normaliser.{e.field}" if e.field else "normaliser") from None


def _check_input(inp: Mapping[str, Any], channels: int, window: WindowConfig, source: str) -> None:
    """input.layout, dtype, rate and shape must agree with the window and channels: the device feeds what they say."""
    if inp.get("layout") != INPUT_LAYOUT:
        raise BundleError(
            f"input layout {inp.get('layout')!r} is not {INPUT_LAYOUT}", path=source, field="input.layout"
        )
    if inp.get("dtype", INPUT_DTYPE) != INPUT_DTYPE:
        raise BundleError(f"must be {INPUT_DTYPE}, got {inp.get('dtype')!r}", path=source, field="input.dtype")
    if inp.get("sample_rate_hz") != window.rate_hz:
        raise BundleError(
            f"input.sample_rate_hz {inp.get('sample_rate_hz')} differs from window.rate {window.rate_hz}",
            path=source,
            field="input.sample_rate_hz",
        )
    shape = inp.get("shape")
    if not isinstance(shape, list) or len(shape) != 3 or shape[1:] != [channels, window.length]:
        raise BundleError(
            f"{shape!r:.60} contradicts the manifest: {channels} channels and windows of {window.length} samples "
            f'make ["batch", {channels}, {window.length}]',
            path=source,
            field="input.shape",
        )


def _sha256(f: BinaryIO) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as f:
        return _sha256(f)


def describe_file(folder: Path, artifact: Artifact) -> Artifact:
    """The artifact with the size and sha256 of its file (which must already be in `folder`)."""
    if artifact.file is None:
        return artifact
    path = folder / artifact.file
    return replace(artifact, sha256=sha256_file(path), bytes=path.stat().st_size)


def fsync_folder(folder: Path) -> None:
    """Make a rename inside `folder` survive a power cut (POSIX). Windows cannot open a folder (NTFS journals
    the rename itself) and some filesystems refuse to sync one: both are fine to skip."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_manifest(folder: str | Path, manifest: Manifest) -> Path:
    """Write `mujo.json` atomically and durably into `folder`, hashing every artifact's file first."""
    folder = Path(folder)
    manifest = manifest.with_artifacts([describe_file(folder, a) for a in manifest.artifacts])
    target = folder / MANIFEST
    tmp = target.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(dumps_strict(manifest.to_dict(), indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())  # the data is on disk before the rename makes it the manifest
    os.replace(tmp, target)
    fsync_folder(folder)
    return target


class _Unpacked:
    """The private folder a zipped bundle is unpacked into. Removed by `close()`, when nothing refers to it any
    more (the Bundle holding it is gone), or when the interpreter exits, whichever comes first."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="mujo-bundle-"))
        self._remove = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def close(self) -> None:
        self._remove()  # a finalizer runs at most once


# Opening a model file never follows a link, even one swapped in after the check (where the OS can tell)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _regular_file(path: Path, shown: str | Path, what: str, where: str | None) -> os.stat_result:
    """lstat of `path`, which must be a regular file of the bundle itself: not missing, not a link (it could
    point anywhere on the host), not a device or pipe."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise BundleError(f"{what} is missing", path=shown, field=where) from None
    if stat.S_ISLNK(st.st_mode):
        raise BundleError(f"{what} is a symbolic link; a bundle's files must be inside it", path=shown, field=where)
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(f"{what} is not a regular file", path=shown, field=where)
    return st


@dataclass(frozen=True)
class Bundle:
    """An opened bundle: `folder` holds `mujo.json` and the files of its usable artifacts.

    For a .zip, `folder` is a private folder holding only those files, removed by `close()` (also a context
    manager), when the Bundle is garbage-collected, or at exit; for a folder bundle `close()` does nothing."""

    folder: Path
    manifest: Manifest
    source: Path  # what the user passed (a folder or a .zip)
    unpacked: _Unpacked | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        if self.unpacked is not None:
            self.unpacked.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def shown(self, name: str) -> Path:
        """How errors name a file of the bundle: inside the folder, or inside the .zip, never the temporary copy."""
        return self.source / name

    def path_of(self, artifact: Artifact) -> Path:
        """The artifact's model file: a regular file inside the bundle (BundleError otherwise)."""
        where = f"artifacts.{artifact.name}"
        if artifact.file is None:
            raise BundleError(
                f"artifact {artifact.name!r} has no file ({artifact.status})", path=self.source, field=where
            )
        path = self.folder / plain_name(artifact.file, f"{where}.file")
        _regular_file(path, self.shown(artifact.file), f"model file of artifact {artifact.name!r}", f"{where}.file")
        return path

    @property
    def usable(self) -> tuple[Artifact, ...]:
        return tuple(a for a in self.manifest.artifacts if a.usable)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number (the normaliser and rates must be finite)")


def _json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_JSON_DEPTH:
                break
            stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def _parse_manifest(raw: bytes, shown: str) -> Manifest:
    """mujo.json's bytes -> Manifest: bounded size and depth, UTF-8, finite numbers, every field checked."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{len(raw)} bytes; a manifest is at most {MAX_MANIFEST_BYTES}", path=shown)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise BundleError(f"not UTF-8 text (byte {e.start} is {raw[e.start]:#04x})", path=shown) from None
    except json.JSONDecodeError as e:
        raise BundleError(f"not valid JSON: {e.msg}", path=shown, line=e.lineno) from None
    except RecursionError:
        raise BundleError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", path=shown) from None
    except ValueError as e:  # NaN/Infinity, an integer with thousands of digits
        raise BundleError(f"not valid JSON: {e}", path=shown) from None
    if _json_depth(data) > MAX_JSON_DEPTH:
        raise BundleError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", path=shown)
    if not isinstance(data, dict):
        raise BundleError("expected a JSON object", path=shown)
    return Manifest.from_dict(data, shown)


def _open_read(path: Path, shown: str | Path, where: str | None) -> BinaryIO:
    try:
        return os.fdopen(os.open(path, _READ_FLAGS), "rb")
    except OSError as e:  # e.g. swapped for a link since the check
        raise BundleError(f"cannot be read ({e.strerror})", path=shown, field=where) from None


def _open_folder(folder: Path) -> Bundle:
    mpath = folder / MANIFEST
    if not os.path.lexists(mpath):
        raise BundleError(f"no {MANIFEST} in the bundle", path=folder)
    st = _regular_file(mpath, mpath, MANIFEST, None)
    if st.st_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{st.st_size} bytes; a manifest is at most {MAX_MANIFEST_BYTES}", path=mpath)
    with _open_read(mpath, mpath, None) as f:
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    return Bundle(folder=folder, manifest=_parse_manifest(raw, str(mpath)), source=folder)


def _check_member(info: zipfile.ZipInfo, source: Path) -> None:
    """One archive entry: a safe relative name, a plain file (not a link), readable, not a zip bomb."""
    name = info.filename
    if name.startswith(("/", "\\")) or ":" in name or ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise BundleError(f"unsafe path {name!r} in the archive", path=source)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise BundleError(f"{name!r} is a symbolic link; a bundle's files must be inside it", path=source)
    if info.flag_bits & 0x1:
        raise BundleError(f"{name!r} is encrypted", path=source)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BundleError(f"{name!r} uses compression method {info.compress_type}; use deflate", path=source)
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise BundleError(
            f"{name!r} would inflate {info.compress_size} bytes to {info.file_size} (more than "
            f"{MAX_COMPRESSION_RATIO}x: a zip bomb, not a model file)",
            path=source,
        )


def _check_archive(infos: list[zipfile.ZipInfo], source: Path) -> str:
    """Refuse an archive beyond what a bundle can be (from its declared sizes, before unpacking anything);
    returns the folder prefix of its one mujo.json."""
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        raise BundleError(
            f"the archive has {len(infos)} entries; a bundle has at most {MAX_ARCHIVE_ENTRIES} "
            f"({MANIFEST} and its model files)",
            path=source,
        )
    for info in infos:
        _check_member(info, source)
    total = sum(i.file_size for i in infos)
    if total > MAX_BUNDLE_BYTES:
        raise BundleError(f"the archive unpacks to {total} bytes; a bundle is at most {MAX_BUNDLE_BYTES}", path=source)
    manifests = [i for i in infos if not i.is_dir() and PurePosixPath(i.filename).name == MANIFEST]
    if len(manifests) != 1:
        raise BundleError(f"the archive holds {len(manifests)} {MANIFEST} files, expected 1", path=source)
    if manifests[0].file_size > MAX_MANIFEST_BYTES:
        raise BundleError(
            f"{manifests[0].file_size} bytes; a manifest is at most {MAX_MANIFEST_BYTES}",
            path=f"{source}/{manifests[0].filename}",
        )
    return manifests[0].filename[: -len(MANIFEST)]


def _unpack(zf: zipfile.ZipFile, prefix: str, manifest_raw: bytes, manifest: Manifest, source: Path) -> Bundle:
    """Only mujo.json and the usable artifacts' files (plain names, checked) go into a private folder."""
    names = set(zf.namelist())
    unpacked = _Unpacked()
    try:
        (unpacked.path / MANIFEST).write_bytes(manifest_raw)
        for a in manifest.artifacts:
            if a.usable and prefix + str(a.file) in names:
                # zipfile stops at the declared size and checks the CRC, so the archive limits bound this
                with zf.open(prefix + str(a.file)) as src, open(unpacked.path / str(a.file), "wb") as out:
                    shutil.copyfileobj(src, out)
    except BaseException:
        unpacked.close()
        raise
    return Bundle(folder=unpacked.path, manifest=manifest, source=source, unpacked=unpacked)


def _open_zip(source: Path) -> Bundle:
    try:
        with zipfile.ZipFile(source) as zf:
            prefix = _check_archive(zf.infolist(), source)
            raw = zf.read(prefix + MANIFEST)
            manifest = _parse_manifest(raw, f"{source}/{prefix}{MANIFEST}")
            return _unpack(zf, prefix, raw, manifest, source)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise BundleError(f"not a valid zip: {e}", path=source) from None


def _verify(bundle: Bundle, artifact: Artifact) -> None:
    """The model file's size and sha256 must be the manifest's (read through a descriptor that follows no link)."""
    path, shown = bundle.path_of(artifact), bundle.shown(str(artifact.file))
    where = f"artifacts.{artifact.name}"
    with _open_read(path, shown, f"{where}.file") as f:
        size = os.fstat(f.fileno()).st_size
        if artifact.bytes is not None and size != artifact.bytes:
            raise BundleError(
                f"file has {size} bytes, the manifest says {artifact.bytes} (truncated or replaced?)",
                path=shown,
                field=f"{where}.bytes",
            )
        digest = _sha256(f)
    if artifact.sha256 is None or digest != artifact.sha256:
        raise BundleError(
            "sha256 does not match the manifest (file changed or corrupt)", path=shown, field=f"{where}.sha256"
        )


def read_bundle(path: str | Path, *, verify: bool = True) -> Bundle:
    """Open a bundle folder or .zip, check the schema and (with `verify`) every usable file's size and sha256.

    A .zip within the archive limits (MAX_ARCHIVE_ENTRIES, MAX_BUNDLE_BYTES, MAX_COMPRESSION_RATIO) has only
    mujo.json and its model files unpacked, into a private folder removed by `Bundle.close()` (or when the
    Bundle is garbage-collected, or at exit): use `with read_bundle(path) as bundle:`."""
    source = Path(path)
    if not source.exists():
        raise DataNotFoundError("bundle not found", path=source)
    if source.is_dir():
        bundle = _open_folder(source)
    elif source.is_file():
        bundle = _open_zip(source)
    else:
        raise BundleError("neither a bundle folder nor a .zip file", path=source)
    if verify:
        try:
            for a in bundle.usable:
                _verify(bundle, a)
        except BaseException:
            bundle.close()
            raise
    return bundle


def zip_bundle(folder: str | Path, target: str | Path) -> Path:
    """Pack a bundle folder into one .zip (manifest and the files of its artifacts, nothing else)."""
    target = Path(target)
    with read_bundle(folder) as bundle:
        files = {MANIFEST: bundle.folder / MANIFEST, **{str(a.file): bundle.path_of(a) for a in bundle.usable}}
        total = sum(p.stat().st_size for p in files.values())
        if total > MAX_BUNDLE_BYTES:
            raise BundleError(
                f"{total} bytes is more than a zipped bundle may hold ({MAX_BUNDLE_BYTES}); ship the folder",
                path=bundle.source,
            )
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, p in files.items():
                zf.write(p, name)
    return target
