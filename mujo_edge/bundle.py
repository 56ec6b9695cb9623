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
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from mujo_edge.channels import Channel, ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, DataError, DataNotFoundError, LayoutError
from mujo_edge.normalise import Normaliser

MANIFEST = "mujo.json"
SCHEMA = "mujo-edge/bundle"
SCHEMA_VERSION = 1
INPUT_LAYOUT = "NCL"  # [batch, channels, samples]: the layout of Windows.x, kept through every converter


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

    def __post_init__(self) -> None:
        # mujo.json holds plain strings: convert them here so every reader (and every caller passing a literal
        # value) gets the enum, and an unknown value is refused with the field named
        where = f"artifacts.{self.name}"
        object.__setattr__(self, "status", _member(ArtifactStatus, self.status, f"{where}.status"))
        object.__setattr__(self, "precision", _member(Precision, self.precision, f"{where}.precision"))
        object.__setattr__(self, "engine", _member(EngineName, self.engine, f"{where}.engine"))
        if self.status != ArtifactStatus.EXPORT_FAILED and not self.file:
            raise LayoutError("an exported artifact needs a file", field=f"{where}.file")

    @property
    def usable(self) -> bool:
        return self.file is not None and self.status != ArtifactStatus.EXPORT_FAILED

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            status=self.status.value, precision=self.precision.value, engine=self.engine.value, parity=dict(self.parity)
        )
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> Artifact:
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("input_quant", "output_quant"):
            if kwargs.get(key) is not None:
                kwargs[key] = (float(kwargs[key][0]), int(kwargs[key][1]))
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
            inp = data["input"]
            if inp.get("layout") != INPUT_LAYOUT:
                raise BundleError(
                    f"input layout {inp.get('layout')!r} is not {INPUT_LAYOUT}", path=source, field="input.layout"
                )
            window = WindowConfig.from_dict(data["window"])
            if inp.get("sample_rate_hz") != window.rate_hz:
                raise BundleError(
                    f"input.sample_rate_hz {inp.get('sample_rate_hz')} differs from window.rate {window.rate_hz}",
                    path=source,
                    field="input.sample_rate_hz",
                )
            return cls(
                channels=tuple(inp["channels"]),
                units=tuple(inp["units"]),
                window=window,
                normaliser=Normaliser.from_dict(data["normaliser"], source),
                labels=tuple(data["labels"]),
                label_texts=dict(data.get("label_texts", {})),
                artifacts=tuple(Artifact.from_dict(a, source) for a in data.get("artifacts", [])),
                kind=data.get("kind", "classifier"),
                training=Provenance.from_dict(data.get("training", {})),
                metrics=data.get("metrics", {}),
                versions=data.get("versions", {}),
                created=data.get("created", ""),
            )
        except KeyError as e:
            raise BundleError("missing key", path=source, field=str(e.args[0])) from None
        except (LayoutError, ConfigError) as e:
            raise BundleError(e.message, path=source, field=e.field) from None
        except (TypeError, ValueError, AttributeError) as e:
            raise BundleError(f"invalid manifest: {e}", path=source) from None


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_file(folder: Path, artifact: Artifact) -> Artifact:
    """The artifact with the size and sha256 of its file (which must already be in `folder`)."""
    if artifact.file is None:
        return artifact
    path = folder / artifact.file
    return replace(artifact, sha256=sha256_file(path), bytes=path.stat().st_size)


def write_manifest(folder: str | Path, manifest: Manifest) -> Path:
    """Write `mujo.json` atomically into `folder`, hashing every artifact's file first."""
    folder = Path(folder)
    manifest = manifest.with_artifacts([describe_file(folder, a) for a in manifest.artifacts])
    target = folder / MANIFEST
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    os.replace(tmp, target)
    return target


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk: `folder` holds `mujo.json` and the files of its usable artifacts."""

    folder: Path
    manifest: Manifest
    source: Path  # what the user passed (a folder or a .zip)

    def path_of(self, artifact: Artifact) -> Path:
        if artifact.file is None:
            raise BundleError(
                f"artifact {artifact.name!r} has no file ({artifact.status})",
                path=self.source,
                field=f"artifacts.{artifact.name}",
            )
        return self.folder / artifact.file

    @property
    def usable(self) -> tuple[Artifact, ...]:
        return tuple(a for a in self.manifest.artifacts if a.usable)


def _extract(zip_path: Path) -> Path:
    """Unpack a zipped bundle into a private temporary folder (names are checked: no absolute or .. paths)."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = zf.namelist()
            for n in names:
                if n.startswith("/") or ".." in Path(n).parts:
                    raise BundleError(f"unsafe path {n!r} in the archive", path=zip_path)
            out = Path(tempfile.mkdtemp(prefix="mujo-bundle-"))
            zf.extractall(out)
    except zipfile.BadZipFile as e:
        raise BundleError(f"not a valid zip: {e}", path=zip_path) from None
    manifests = [p for p in out.rglob(MANIFEST)]
    if len(manifests) != 1:
        raise BundleError(f"the archive holds {len(manifests)} {MANIFEST} files, expected 1", path=zip_path)
    return manifests[0].parent


def read_bundle(path: str | Path, *, verify: bool = True) -> Bundle:
    """Open a bundle folder or .zip, check the schema and (with `verify`) every usable file's size and sha256."""
    source = Path(path)
    if not source.exists():
        raise DataNotFoundError("bundle not found", path=source)
    folder = _extract(source) if source.is_file() else source
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"no {MANIFEST} in the bundle", path=source)
    try:
        data = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"not valid JSON: {e.msg}", path=mpath, line=e.lineno) from None
    if not isinstance(data, dict):
        raise BundleError("expected a JSON object", path=mpath)
    manifest = Manifest.from_dict(data, str(mpath))
    if verify:
        for a in manifest.artifacts:
            if not a.usable:
                continue
            fpath = folder / str(a.file)
            if not fpath.is_file():
                raise BundleError(f"model file of artifact {a.name!r} is missing", path=fpath)
            size = fpath.stat().st_size
            if a.bytes is not None and size != a.bytes:
                raise BundleError(
                    f"file has {size} bytes, the manifest says {a.bytes} (truncated or replaced?)",
                    path=fpath,
                    field=f"artifacts.{a.name}.bytes",
                )
            if a.sha256 is None or sha256_file(fpath) != a.sha256:
                raise BundleError(
                    "sha256 does not match the manifest (file changed or corrupt)",
                    path=fpath,
                    field=f"artifacts.{a.name}.sha256",
                )
    return Bundle(folder=folder, manifest=manifest, source=source)


def zip_bundle(folder: str | Path, target: str | Path) -> Path:
    """Pack a bundle folder into one .zip (manifest and the files of its artifacts, nothing else)."""
    bundle = read_bundle(folder)
    target = Path(target)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(bundle.folder / MANIFEST, MANIFEST)
        for a in bundle.usable:
            zf.write(bundle.path_of(a), str(a.file))
    return target
