"""Building a pre-training corpus from a recipe: real recordings, synthetic motion, and text embeddings.

1. Real recordings: each dataset's windows (the same windowing as training and the live runtime); every
   tri-axial stream becomes a sensor modality (`wrist_acc`, `pocket_acc`, ...); streams recorded at the same
   time (watch + phone in sp-sw-har) are aligned, so they pair as modalities of one window; the text of a
   labelled window is one of its class's curated descriptions.
2. Synthetic motion: procedurally animated 3-D poses (`motion_library`) -> virtual IMU (`virtual_imu`) at both
   wrists; the "watch" wrist (the moving arm for one-arm motions, else either) becomes `wrist_*`, and the
   pose (pelvis-relative, [3, 17, L]) is a modality of its own, with the motion's description as text.
3. `extra` corpora written by users in the corpus format (e.g. with video or ada-002 features) are appended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.channels import AXES, ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.base import resolve_root
from mujo_edge.data.prepare import prepare
from mujo_edge.data.texts import label_texts
from mujo_edge.errors import ConfigError
from mujo_edge.training.corpus import NO_TEXT, Corpus, concat, from_windows
from mujo_edge.training.recipe import CorpusRecipe

log = logging.getLogger(__name__)

# progress(done, total, what)
Progress = Callable[[int, int, str], None]
POSE = "pose"
SYNTHETIC = "synthetic"


def real_part(dataset: str, root: Path | None, recipe: CorpusRecipe, window: WindowConfig) -> Corpus:
    """Windows of one real dataset as a corpus part (only the recipe's modalities are kept)."""
    prepared = prepare(dataset, root, selection=ChannelSelection(), config=window)
    # a user's own data may describe its labels (mujo-labels.toml next to it); registered datasets ignore the root
    texts = {
        cls: lt.all
        for cls, lt in label_texts(dataset, prepared.windows.classes, data_root=prepared.summary.root).items()
    }
    sensors = [m for m in recipe.modalities if m != POSE]
    return from_windows(prepared.windows, dataset, texts, keep=sensors, seed=recipe.seed)


def synthetic_part(recipe: CorpusRecipe, window: WindowConfig, progress: Progress | None = None) -> Corpus:
    """Procedural motions -> pose + virtual wrist IMU windows, `recipe.synthetic_per_motion` per family."""
    from mujo_edge.training.motion_library import MOTIONS, generate
    from mujo_edge.training.virtual_imu import VirtualImuConfig, simulate

    imu = VirtualImuConfig(sites=("leftwrist", "rightwrist"), sensors=("acc", "gyro"), output_rate_hz=window.rate_hz)
    names = sorted(MOTIONS)
    rng = np.random.default_rng([recipe.seed, 7])
    data: dict[str, list[np.ndarray]] = {"wrist_acc": [], "wrist_gyro": [], POSE: []}
    subject, label, text, group = [], [], [], []
    texts: list[str] = []
    total = len(names) * recipe.synthetic_per_motion
    for f, name in enumerate(names):
        for k in range(recipe.synthetic_per_motion):
            sample = generate(name, recipe.synthetic_duration_s, 30.0, rng)
            rec = simulate(sample.joints, sample.fps, imu, subject=f"{k}", source=f"{SYNTHETIC}:{name}")
            side = _watch_side(sample.params, rng)
            watch = rec.with_channels([f"{side}wrist_{s}_{a}" for s in ("acc", "gyro") for a in AXES])
            pose = _pose_on_grid(sample.joints, sample.fps, rec.t - rec.t[0])
            starts = np.arange(0, rec.n_samples - window.length + 1, window.step)
            idx = starts[:, None] + np.arange(window.length)[None, :]
            sig = watch.x[idx].transpose(0, 2, 1)  # [W, 6, L]
            data["wrist_acc"].append(sig[:, :3])
            data["wrist_gyro"].append(sig[:, 3:])
            data[POSE].append(pose[idx].transpose(0, 3, 2, 1))  # [W, L, 17, 3] -> [W, 3, 17, L]
            if sample.text not in texts:
                texts.append(sample.text)
            n = len(starts)
            subject += [f"{SYNTHETIC}:{k}"] * n
            label += [name] * n
            text += [texts.index(sample.text)] * n
            group += [f] * n
            if progress:
                progress(f * recipe.synthetic_per_motion + k + 1, total, name)
    keep = [m for m in data if m in recipe.modalities]
    count = len(label)
    return Corpus(
        data={m: np.concatenate(data[m]).astype(np.float32) for m in keep},
        present={m: np.ones(count, bool) for m in keep},
        kinds={m: "pose" if m == POSE else "sensor" for m in keep},
        source=np.full(count, SYNTHETIC),
        subject=np.array(subject),
        label=np.array(label),
        text_id=np.array(text, dtype=np.int64),
        group=np.array(group, dtype=np.int64),
        texts=tuple(texts),
        meta={
            "source": SYNTHETIC,
            "motions": names,
            "per_motion": recipe.synthetic_per_motion,
            "duration_s": recipe.synthetic_duration_s,
        },
    )


def _watch_side(params: Mapping[str, Any], rng: np.random.Generator) -> str:
    """The wrist the watch is on: the moving arm when a motion uses one arm, else a coin flip."""
    side = str(params.get("side", "both"))
    return side if side in ("left", "right") else ("left" if rng.random() < 0.5 else "right")


def _pose_on_grid(joints: np.ndarray, fps: float, t: np.ndarray) -> np.ndarray:
    """Pelvis-relative joints [len(t), 17, 3] linearly interpolated onto times `t` (s from the first frame)."""
    rel = joints - joints[:, :1]
    src = np.arange(len(joints)) / fps
    flat = rel.reshape(len(joints), -1)
    out = np.stack([np.interp(t, src, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape(len(t), *joints.shape[1:]).astype(np.float32)


def build_corpus(
    recipe: CorpusRecipe,
    *,
    data_root: Path | None,
    embedder: object,
    window: WindowConfig = WindowConfig(),
    extra: Sequence[Path] = (),
    progress: Progress | None = None,
) -> Corpus:
    """The recipe's corpus with texts embedded by `embedder` (anything with `embed(texts) -> [N, D]`).

    `data_root` is the folder holding the datasets' folders (`--data`); None means `resolve_root`'s default
    ($MUJO_EDGE_DATA, else ../shared/data)."""
    from mujo_edge.data.registry import get_loader

    parts = []
    for dataset in recipe.sources:
        root = resolve_root(get_loader(dataset).spec, data_dir=data_root)
        log.info("corpus: reading %s", dataset)
        parts.append(real_part(dataset, root, recipe, window))
        if progress:
            progress(len(parts), len(recipe.sources), dataset)
    if recipe.synthetic_per_motion:
        parts.append(synthetic_part(recipe, window, progress))
    parts += [Corpus.load(p) for p in extra]
    if not parts:
        raise ConfigError(
            "the recipe yields no data (every real source excluded and no synthetic motion)", field="corpus"
        )
    corpus = concat(parts)
    missing = [m for m in recipe.modalities if m not in corpus.data]
    if missing:
        log.warning("corpus: no source provides %s", missing)
    table = corpus.text_table
    if corpus.texts and table is None:
        table = np.asarray(embedder.embed(list(corpus.texts)), dtype=np.float32)  # type: ignore[attr-defined]
    if (corpus.text_id == NO_TEXT).all():
        log.warning("corpus: no window has a text")
    meta = {
        **dict(corpus.meta),
        "exclude": list(recipe.exclude),
        "sources": list(recipe.sources),
        "text_model": str(getattr(embedder, "model_id", type(embedder).__name__)),
    }
    return replace(corpus, text_table=table, meta=meta)
