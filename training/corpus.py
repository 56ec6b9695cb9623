"""The pre-training corpus: windows with any subset of modalities, on disk as `corpus.npz` + `corpus.json`.

Per window: sensor streams named by placement and sensor (`wrist_acc`, `wrist_gyro`, `pocket_acc`, ...)
as float32 [3, L]; `pose` [3, 17, L] (pelvis-relative metres); `video` feature vectors; a text (the
description of its activity) whose embedding lives in a text table; plus which modalities are present, the
source dataset, the subject, the label and a label group. Users can add their own features (e.g. video or
ada-002 text vectors) by writing a corpus in this format and passing it with `--extra`.

numpy only: the trainer turns arrays into tensors. Arrays load with allow_pickle=False.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mujo_edge.channels import triaxial_streams
from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError
from mujo_edge.windows import Windows

CORPUS_VERSION = 1
KINDS = ("sensor", "pose", "video")
NO_TEXT = -1


@dataclass(frozen=True, eq=False)
class Corpus:
    """Windows of many sources. `data[name]` [W, ...] float32 (zeros where absent), `present[name]` bool [W];
    `text_id` [W] indexes `texts` / `text_table` (NO_TEXT = none); `group` [W] int ties windows of one label
    together (positives of each other for text); `subject` is "<source>:<subject>" so ids never collide."""

    data: Mapping[str, np.ndarray]
    present: Mapping[str, np.ndarray]
    kinds: Mapping[str, str]
    source: np.ndarray
    subject: np.ndarray
    label: np.ndarray
    text_id: np.ndarray
    group: np.ndarray
    texts: tuple[str, ...] = ()
    text_table: np.ndarray | None = None  # [len(texts), D] float32 embeddings, or None before embedding
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        n = len(self.source)
        for name, arr in self.data.items():
            if self.kinds.get(name) not in KINDS:
                raise ConfigError(f"modality {name!r} has unknown kind {self.kinds.get(name)!r}", field="kinds")
            if arr.shape[0] != n or self.present[name].shape != (n,):
                raise ConfigError(f"modality {name!r} has {arr.shape[0]} windows, corpus has {n}", field=name)
        for key in ("subject", "label", "text_id", "group"):
            if len(getattr(self, key)) != n:
                raise ConfigError(f"{len(getattr(self, key))} entries for {n} windows", field=key)
        if n and len(self.texts) and (self.text_id.max() >= len(self.texts)):
            raise ConfigError("text_id outside the text table", field="text_id")
        if self.text_table is not None and self.text_table.shape[0] != len(self.texts):
            raise ConfigError("text_table rows do not match texts", field="text_table")

    def __len__(self) -> int:
        return len(self.source)

    @property
    def modalities(self) -> list[str]:
        return sorted(self.data)

    def has_text(self) -> np.ndarray:
        return self.text_id != NO_TEXT

    def counts(self) -> dict[str, int]:
        """Windows per modality (and "text")."""
        out = {name: int(self.present[name].sum()) for name in self.modalities}
        out["text"] = int(self.has_text().sum())
        return out

    def subset(self, index: np.ndarray | Sequence[int]) -> Corpus:
        idx = np.asarray(index)
        return Corpus(
            data={k: v[idx] for k, v in self.data.items()},
            present={k: v[idx] for k, v in self.present.items()},
            kinds=self.kinds,
            source=self.source[idx],
            subject=self.subject[idx],
            label=self.label[idx],
            text_id=self.text_id[idx],
            group=self.group[idx],
            texts=self.texts,
            text_table=self.text_table,
            meta=self.meta,
        )

    # --- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write `corpus.npz` and `corpus.json` into `folder` atomically; returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "source": self.source.astype(str),
            "subject": self.subject.astype(str),
            "label": self.label.astype(str),
            "text_id": self.text_id,
            "group": self.group,
            "texts": np.asarray(self.texts, dtype=str),
        }
        for name in self.modalities:
            arrays[f"data/{name}"] = self.data[name]
            arrays[f"present/{name}"] = self.present[name]
        if self.text_table is not None:
            arrays["text_table"] = self.text_table
        _atomic_npz(folder / "corpus.npz", arrays)
        info = {
            "version": CORPUS_VERSION,
            "windows": len(self),
            "kinds": dict(self.kinds),
            "shapes": {n: list(self.data[n].shape[1:]) for n in self.modalities},
            "counts": self.counts(),
            "sources": _count(self.source),
            "meta": dict(self.meta),
        }
        (folder / "corpus.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Corpus:
        folder = Path(folder)
        npz, js = folder / "corpus.npz", folder / "corpus.json"
        for f in (npz, js):
            if not f.is_file():
                raise DataNotFoundError("corpus file not found (build one with `mujo-edge pretrain`)", path=f)
        try:
            info = json.loads(js.read_text())
        except json.JSONDecodeError as e:
            raise LayoutError(f"not valid JSON: {e.msg}", path=js, line=e.lineno) from None
        if info.get("version") != CORPUS_VERSION:
            raise LayoutError(
                f"corpus version {info.get('version')!r}, this mujo-edge reads {CORPUS_VERSION}",
                path=js,
                field="version",
            )
        try:
            with np.load(npz, allow_pickle=False) as z:
                kinds = info["kinds"]
                return cls(
                    data={n: z[f"data/{n}"] for n in kinds},
                    present={n: z[f"present/{n}"] for n in kinds},
                    kinds=kinds,
                    source=z["source"],
                    subject=z["subject"],
                    label=z["label"],
                    text_id=z["text_id"],
                    group=z["group"],
                    texts=tuple(z["texts"].tolist()),
                    text_table=z["text_table"] if "text_table" in z.files else None,
                    meta=info.get("meta", {}),
                )
        except KeyError as e:
            raise LayoutError("missing array or key", path=npz, field=str(e.args[0])) from None
        except (ValueError, OSError) as e:
            raise LayoutError(f"unreadable corpus arrays ({e})", path=npz) from None


def _count(values: np.ndarray) -> dict[str, int]:
    uniq, counts = np.unique(values.astype(str), return_counts=True)
    return {str(u): int(c) for u, c in zip(uniq, counts)}


def _atomic_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **dict(arrays))  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def concat(parts: Sequence[Corpus]) -> Corpus:
    """One corpus from several; modalities missing in a part are absent (zeros, present=False) there.

    Texts are merged into one table; groups are renumbered so groups of different parts never collide.
    Parts must all be embedded with the same text encoder, or none embedded.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        raise ConfigError("no windows to concatenate", field="corpus")
    kinds: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for p in parts:
        for name in p.modalities:
            if name in kinds and (kinds[name] != p.kinds[name] or shapes[name] != p.data[name].shape[1:]):
                raise ConfigError(f"modality {name!r} differs in kind or shape between parts", field=name)
            kinds[name], shapes[name] = p.kinds[name], p.data[name].shape[1:]
    embedded = [p.text_table is not None for p in parts if p.texts]
    if embedded and any(embedded) != all(embedded):
        raise ConfigError("some parts have text embeddings and some do not", field="text_table")
    texts: list[str] = []
    index: dict[str, int] = {}
    tables, text_ids, groups, offset = [], [], [], 0
    for p in parts:
        rows = []
        for t in p.texts:
            if t not in index:
                index[t] = len(texts)
                texts.append(t)
            rows.append(index[t])
        lut = np.array([*rows, NO_TEXT], dtype=np.int64)  # lut[NO_TEXT] stays NO_TEXT
        if p.text_table is not None:
            tables.append((lut[:-1], p.text_table))
        text_ids.append(lut[p.text_id])
        groups.append(p.group + offset)
        offset += int(p.group.max()) + 1 if len(p.group) else 0
    table = None
    if tables:
        table = np.zeros((len(texts), tables[0][1].shape[1]), np.float32)
        for lut_rows, embeddings in tables:
            table[lut_rows] = embeddings
    data, present = {}, {}
    for name in kinds:
        data[name] = np.concatenate(
            [p.data[name] if name in p.data else np.zeros((len(p), *shapes[name]), np.float32) for p in parts]
        )
        present[name] = np.concatenate(
            [p.present[name] if name in p.present else np.zeros(len(p), bool) for p in parts]
        )
    return Corpus(
        data=data,
        present=present,
        kinds=kinds,
        source=np.concatenate([p.source.astype(str) for p in parts]),
        subject=np.concatenate([p.subject.astype(str) for p in parts]),
        label=np.concatenate([p.label.astype(str) for p in parts]),
        text_id=np.concatenate(text_ids),
        group=np.concatenate(groups),
        texts=tuple(texts),
        text_table=table,
        meta={"parts": [dict(p.meta) for p in parts]},
    )


def from_windows(
    windows: Windows,
    source: str,
    label_texts: Mapping[str, Sequence[str]],
    *,
    keep: Sequence[str] | None = None,
    seed: int = 0,
) -> Corpus:
    """A corpus part from windows of a real dataset: each tri-axial stream becomes a sensor modality.

    `label_texts` maps class name -> its descriptions; every labelled window gets one of its class's
    descriptions (drawn with `seed`), so the text modality sees every phrasing. Windows without a label
    (y = -1) have no text but still pair their sensor streams. `keep` limits the sensor modalities.
    """
    streams = triaxial_streams(windows.channels, strict=True)
    if keep is not None:
        streams = {k: v for k, v in streams.items() if k in keep}
    if not streams:
        raise ConfigError(f"{source}: none of the wanted streams in {windows.channels}", field="modalities")
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    class_text_ids: list[list[int]] = []
    for cls in windows.classes:
        options = list(label_texts.get(cls, ()))
        if not options:
            raise ConfigError(f"{source}: no description for class {cls!r}", field="label_texts")
        class_text_ids.append(list(range(len(texts), len(texts) + len(options))))
        texts.extend(options)
    text_id = np.full(len(windows), NO_TEXT, dtype=np.int64)
    for i, y in enumerate(windows.y):
        if y >= 0:
            text_id[i] = rng.choice(class_text_ids[y])
    labelled = windows.y >= 0
    label = np.where(labelled, np.asarray((*windows.classes, ""), dtype=str)[windows.y], "")
    # a label's group is its class; unlabelled windows are groups of their own (no text, so unused)
    group = np.where(labelled, windows.y, len(windows.classes) + np.arange(len(windows)))
    n = len(windows)
    return Corpus(
        data={k: np.ascontiguousarray(windows.x[:, rows]) for k, rows in streams.items()},
        present={k: np.ones(n, bool) for k in streams},
        kinds={k: "sensor" for k in streams},
        source=np.full(n, source),
        subject=np.char.add(f"{source}:", windows.subject.astype(str)),
        label=label,
        text_id=text_id,
        group=group.astype(np.int64),
        texts=tuple(texts),
        meta={
            "source": source,
            "windows": n,
            "channels": list(windows.channels),
            "classes": list(windows.classes),
            "dropped": dict(windows.dropped),
        },
    )
