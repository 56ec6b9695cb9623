"""Hand-made window features + a random forest: what a user gets without deep learning.

`window_features` turns windows float32 [W, C, L] (channels first, as `Windows.x`) into a float32 table
[W, F] of statistical and spectral features per channel, plus per tri-axial stream (x, y, z of one sensor)
the same features of the magnitude and the three pairwise axis correlations. Everything is vectorised over
windows and defined (never NaN) for constant channels. `FeatureForest` is a scikit-learn random forest on
that table and `evaluate_kfold` the subject-wise k-fold protocol every results table quotes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mujo_edge.channels import AXES, triaxial_streams
from mujo_edge.errors import ConfigError, MujoEdgeError, SampleError
from mujo_edge.metrics import scores
from mujo_edge.splits import subject_kfold
from mujo_edge.windows import Windows

log = logging.getLogger(__name__)

# spectral bands in Hz, [lo, hi); the last one also includes its upper edge (Nyquist at 50 Hz)
BANDS: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 3.0), (3.0, 6.0), (6.0, 12.0), (12.0, 25.0))
STAT_NAMES = ("mean", "std", "min", "max", "median", "iqr", "skew", "kurtosis", "rms", "zcr", "mean_abs_diff")
SPECTRAL_NAMES = (
    "dom_freq",
    "dom_power",
    *(f"band_{lo:g}_{hi:g}hz" for lo, hi in BANDS),
    "spectral_entropy",
    "spectral_centroid",
)
SIGNAL_NAMES = STAT_NAMES + SPECTRAL_NAMES
CORR_NAMES = ("corr_xy", "corr_xz", "corr_yz")
_CHUNK = 4096  # windows per chunk: bounds memory (float64 copies of [chunk, C, L]) for W in the 100 000s


def _flat_mask(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    # a signal whose spread is below float32 resolution is constant; its de-meaned values are rounding noise
    return std <= 1e-6 * (1.0 + np.abs(mean))


def _signal_features(x: np.ndarray, rate_hz: float) -> np.ndarray:
    """Features of signals x float64 [..., L] -> [..., len(SIGNAL_NAMES)]."""
    n = x.shape[-1]
    mean = x.mean(axis=-1)
    d = x - mean[..., None]
    std = np.sqrt((d * d).mean(axis=-1))
    flat = _flat_mask(x, mean, std)
    d[flat] = 0.0
    std = np.where(flat, 0.0, std)
    safe_std = np.where(flat, 1.0, std)
    z = d / safe_std[..., None]
    skew = np.where(flat, 0.0, (z**3).mean(axis=-1))
    kurt = np.where(flat, 0.0, (z**4).mean(axis=-1) - 3.0)  # excess (Fisher), biased, like scipy's default

    s = np.sort(x, axis=-1)

    def quantile(q: float) -> np.ndarray:  # linear interpolation, numpy's default method
        pos = q * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        return s[..., lo] + (pos - lo) * (s[..., hi] - s[..., lo])

    rms = np.sqrt((x * x).mean(axis=-1))
    zcr = (d[..., 1:] * d[..., :-1] < 0).sum(axis=-1) / max(n - 1, 1)  # crossings per sample step
    mad = np.abs(np.diff(x, axis=-1)).mean(axis=-1) if n > 1 else np.zeros_like(mean)
    stats = [
        mean,
        std,
        s[..., 0],
        s[..., -1],
        quantile(0.5),
        quantile(0.75) - quantile(0.25),
        skew,
        kurt,
        rms,
        zcr,
        mad,
    ]

    power = np.abs(np.fft.rfft(d * np.hanning(n), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(n, d=1.0 / rate_hz)
    total = power.sum(axis=-1)
    empty = total <= 0.0  # constant signal: no spectrum; every spectral feature is defined as 0
    p = power / np.where(empty, 1.0, total)[..., None]
    k = p.argmax(axis=-1)
    dom_freq = np.where(empty, 0.0, freqs[k])
    dom_power = np.take_along_axis(p, k[..., None], axis=-1)[..., 0]
    bands = []
    for i, (lo, hi) in enumerate(BANDS):
        sel = (freqs >= lo) & ((freqs <= hi) if i == len(BANDS) - 1 else (freqs < hi))
        bands.append(p[..., sel].sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    entropy = -plogp.sum(axis=-1) / np.log(len(freqs)) if len(freqs) > 1 else np.zeros_like(total)
    centroid = (p * freqs).sum(axis=-1)
    spectral = [dom_freq, dom_power, *bands, entropy, centroid]
    return np.stack(stats + spectral, axis=-1)


def _correlations(a: np.ndarray) -> np.ndarray:
    """Pairwise Pearson correlations of axes a [W, 3, L] -> [W, 3] (xy, xz, yz); 0 where an axis is constant."""
    mean = a.mean(axis=-1)
    d = a - mean[..., None]
    ss = (d * d).sum(axis=-1)
    flat = _flat_mask(a, mean, np.sqrt(ss / a.shape[-1]))
    d[flat] = 0.0
    ss = np.where(flat, 0.0, ss)
    out = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        den = np.sqrt(ss[:, i] * ss[:, j])
        num = (d[:, i] * d[:, j]).sum(axis=-1)
        out.append(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    return np.clip(np.stack(out, axis=-1), -1.0, 1.0)


def default_channel_names(n_channels: int) -> tuple[str, ...]:
    """Names for unnamed channels: tri-axial streams `s0_x, s0_y, s0_z, s1_x, ...` when C is a multiple of 3."""
    if n_channels % 3 == 0:
        return tuple(f"s{i // 3}_{AXES[i % 3]}" for i in range(n_channels))
    return tuple(f"ch{i}" for i in range(n_channels))


def feature_names(channels: Sequence[str]) -> list[str]:
    """Column names of `window_features` for these channels, e.g. `wrist_acc_x:std`, `wrist_acc_mag:dom_freq`."""
    names = [f"{c}:{f}" for c in channels for f in SIGNAL_NAMES]
    for prefix in triaxial_streams(channels):
        names += [f"{prefix}_mag:{f}" for f in SIGNAL_NAMES]
        names += [f"{prefix}:{f}" for f in CORR_NAMES]
    return names


def window_features(
    x: np.ndarray, rate_hz: float = 50.0, *, channels: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Statistical + spectral features of windows x [W, C, L] sampled at `rate_hz` -> (float32 [W, F], names).

    Per channel (in order): mean, std, min, max, median, IQR, skewness, excess kurtosis, RMS, zero-crossing rate
    of the de-meaned signal (crossings per sample step), mean |first difference| (in the channel's unit per
    sample), then from the power spectrum of the de-meaned, Hann-windowed signal: dominant frequency (Hz), its
    share of the power, the share in bands 0-1, 1-3, 3-6, 6-12, 12-25 Hz, normalised spectral entropy (0..1) and
    spectral centroid (Hz). Then per tri-axial stream (channels `<prefix>_x/_y/_z`, e.g. `wrist_acc`): the same
    for the magnitude `<prefix>_mag`, and the correlations `<prefix>:corr_xy`, `corr_xz`, `corr_yz`.
    `channels` names the rows (default `default_channel_names(C)`). Constant signals get std, skewness,
    kurtosis, zero-crossing rate, spectral features and correlations of 0; no value is ever NaN.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ConfigError(f"windows must be [W, C, L], got shape {x.shape}", field="x")
    if not rate_hz > 0:
        raise ConfigError(f"must be > 0, got {rate_hz}", field="rate_hz")
    names_in = tuple(channels) if channels is not None else default_channel_names(x.shape[1])
    if len(names_in) != x.shape[1]:
        raise ConfigError(f"{len(names_in)} channel names for {x.shape[1]} channels", field="channels")
    if len(set(names_in)) != len(names_in):
        raise ConfigError(f"channel names repeat: {list(names_in)}", field="channels")
    if not np.isfinite(x).all():
        raise SampleError("windows contain NaN or infinite values", field="x")
    names = feature_names(names_in)
    streams = triaxial_streams(names_in)
    out = np.empty((x.shape[0], len(names)), dtype=np.float32)
    for start in range(0, x.shape[0], _CHUNK):
        xc = x[start : start + _CHUNK].astype(np.float64)
        w = xc.shape[0]
        parts = [_signal_features(xc, rate_hz).reshape(w, -1)]
        for rows in streams.values():
            axes = xc[:, list(rows)]
            mag = np.sqrt((axes * axes).sum(axis=1))
            parts += [_signal_features(mag, rate_hz), _correlations(axes)]
        out[start : start + w] = np.concatenate(parts, axis=1)
    return out, names


class NotFittedError(MujoEdgeError):
    """A model used for prediction before `fit`."""


@dataclass(frozen=True)
class FeatureForest:
    """Random forest (scikit-learn) on `window_features`. The configuration is frozen; `fit` stores the model.

    `channels` names the window rows (for feature names and tri-axial grouping); `rate_hz` is the sample rate.
    """

    n_estimators: int = 300
    max_features: str | int | float | None = "sqrt"
    min_samples_leaf: int = 1
    class_weight: str | None = "balanced"
    n_jobs: int = -1
    seed: int = 0
    channels: tuple[str, ...] | None = None
    rate_hz: float = 50.0
    _fitted: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.n_estimators < 1:
            raise ConfigError(f"must be >= 1, got {self.n_estimators}", field="n_estimators")
        if self.min_samples_leaf < 1:
            raise ConfigError(f"must be >= 1, got {self.min_samples_leaf}", field="min_samples_leaf")
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(self.channels))

    def features(self, x: np.ndarray) -> np.ndarray:
        """`window_features` of windows x [W, C, L] with this forest's channel names and rate."""
        return window_features(x, self.rate_hz, channels=self.channels)[0]

    def fit(self, x: np.ndarray, y: np.ndarray) -> FeatureForest:
        """Fit on windows x [W, C, L] and labels y [W]; returns self."""
        f, names = window_features(x, self.rate_hz, channels=self.channels)
        return self.fit_features(f, y, names)

    def fit_features(self, f: np.ndarray, y: np.ndarray, names: Sequence[str] | None = None) -> FeatureForest:
        """Fit on a precomputed feature table f [W, F] (from `window_features`), e.g. shared across folds."""
        from sklearn.ensemble import RandomForestClassifier

        f, y = np.asarray(f), np.asarray(y)
        if f.ndim != 2 or y.shape != (f.shape[0],):
            raise ConfigError(f"features [W, F] and labels [W] do not match: {f.shape} vs {y.shape}", field="y")
        if f.shape[0] == 0:
            raise ConfigError("no windows to fit", field="x")
        model = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
            random_state=self.seed,
        ).fit(f, y)
        self._fitted.clear()
        self._fitted.update(
            model=model, names=list(names) if names is not None else [f"f{i}" for i in range(f.shape[1])]
        )
        return self

    def _model(self) -> Any:
        if "model" not in self._fitted:
            raise NotFittedError("FeatureForest is not fitted: call fit(x, y) first")
        return self._fitted["model"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels [W] for windows x [W, C, L]."""
        return self._model().predict(self.features(x))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities [W, n_classes] (columns in `classes_` order) for windows x [W, C, L]."""
        return self._model().predict_proba(self.features(x))

    def predict_features(self, f: np.ndarray) -> np.ndarray:
        return self._model().predict(f)

    @property
    def classes_(self) -> np.ndarray:
        return self._model().classes_

    @property
    def feature_names(self) -> list[str]:
        self._model()
        return list(self._fitted["names"])

    def feature_importances(self) -> list[tuple[str, float]]:
        """(feature name, impurity importance) pairs, most important first."""
        imp = self._model().feature_importances_
        order = np.argsort(-imp, kind="stable")
        return [(self._fitted["names"][i], float(imp[i])) for i in order]


def evaluate_kfold(
    windows: Windows,
    k: int = 5,
    seed: int = 0,
    channels: tuple[str, ...] | None = None,
    *,
    forest: FeatureForest | None = None,
) -> dict[str, Any]:
    """Subject-wise k-fold of a `FeatureForest` on the labelled windows (y >= 0) of `windows`.

    Folds come from `subject_kfold(subjects, k, seed=seed, n_val=0)` over the subjects that have labelled
    windows (a forest needs no validation subjects). `channels` selects rows by name (None = all). `forest`
    sets the configuration (default `FeatureForest(seed=seed)`); its `channels`/`rate_hz` are taken from the
    windows. Features are computed once and shared by all folds.
    Returns {"folds": [{"name", "train", "test", "n_train", "n_test", "macro_f1", "accuracy"}, ...],
    "macro_f1_mean", "macro_f1_std", "accuracy_mean", "accuracy_std" (std over folds, ddof=0), "k", "seed",
    "channels", "n_features"}.
    """
    from dataclasses import replace

    w = windows.with_channels(channels) if channels is not None else windows
    w = w.subset(w.y >= 0)
    if len(w) == 0:
        raise ConfigError("no labelled windows (y >= 0) to evaluate", field="windows")
    rate_hz = float(w.config.rate_hz)
    base = forest if forest is not None else FeatureForest(seed=seed)
    base = replace(base, channels=w.channels, rate_hz=rate_hz)
    feats, names = window_features(w.x, rate_hz, channels=w.channels)
    subject = w.subject.astype(str)
    folds = []
    for split in subject_kfold(w.subjects(), k, seed=seed, n_val=0):
        train = np.isin(subject, np.asarray(split.train + split.val, dtype=str))
        test = np.isin(subject, np.asarray(split.test, dtype=str))
        model = replace(base).fit_features(feats[train], w.y[train], names)
        pred = model.predict_features(feats[test])
        fold = scores(w.y[test], pred, len(w.classes))
        folds.append(
            {
                "name": split.name,
                "train": split.train + split.val,
                "test": split.test,
                "n_train": int(train.sum()),
                "n_test": int(test.sum()),
                "macro_f1": fold["macro_f1"],
                "accuracy": fold["accuracy"],
            }
        )
        log.info("%s: macro-F1 %.4f, accuracy %.4f", split.name, folds[-1]["macro_f1"], folds[-1]["accuracy"])
    f1s = np.array([f["macro_f1"] for f in folds])
    accs = np.array([f["accuracy"] for f in folds])
    return {
        "folds": folds,
        "macro_f1_mean": float(f1s.mean()),
        "macro_f1_std": float(f1s.std()),
        "accuracy_mean": float(accs.mean()),
        "accuracy_std": float(accs.std()),
        "k": k,
        "seed": seed,
        "channels": w.channels,
        "n_features": len(names),
    }
