"""Curated label texts: complete for every registered dataset, unique, and strict about user files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mujo_edge.data.registry import DATASETS
from mujo_edge.data.texts import (
    FALLBACK_NULL_TEXT,
    LabelText,
    fallback_text,
    label_texts,
    load_label_texts,
    null_text,
    packaged_texts,
)
from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError, UnknownNameError

FIXED = [loader.spec.name for loader in DATASETS if loader.spec.classes]


def test_registry_has_the_paper_datasets() -> None:
    assert {"spar_watch", "sp_sw_har", "hapt", "motionsense", "mhealth", "mmfit", "myogym"} <= set(FIXED)


@pytest.mark.parametrize("dataset", FIXED)
def test_every_class_has_curated_texts(dataset: str) -> None:
    spec = DATASETS.get(dataset).spec
    texts = label_texts(dataset)
    assert tuple(texts) == spec.classes  # class order, nothing missing, nothing extra
    for code, text in texts.items():
        assert isinstance(text, LabelText)
        assert 2 <= len(text.alternatives) <= 3, code
        for sentence in text.all:
            assert sentence.strip() == sentence and len(sentence.split()) >= 5, (code, sentence)
        assert text.primary != fallback_text(code).primary


@pytest.mark.parametrize("dataset", FIXED)
def test_no_sentence_repeats_within_a_dataset(dataset: str) -> None:
    sentences = [s.casefold() for t in label_texts(dataset).values() for s in t.all]
    if DATASETS.get(dataset).spec.has_null:
        sentences += [s.casefold() for s in null_text(dataset).all]
    assert len(sentences) == len(set(sentences))


@pytest.mark.parametrize("dataset", FIXED)
def test_null_text_exactly_where_the_dataset_has_null(dataset: str) -> None:
    spec = DATASETS.get(dataset).spec
    table = packaged_texts()[dataset]
    if spec.has_null:
        assert table.null is not None and len(table.null.alternatives) >= 2
        assert null_text(dataset) == table.null
    else:
        assert table.null is None
        with pytest.raises(ConfigError, match="no NULL class"):
            null_text(dataset)


def test_packaged_file_describes_registered_datasets_only() -> None:
    assert set(packaged_texts()) == set(FIXED)


def test_primary_texts_name_the_activity() -> None:
    er = label_texts("spar_watch")["ER"].primary
    assert er.startswith("external rotation") and "elbow" in er
    assert "stairs" in label_texts("hapt")["WALKING_UPSTAIRS"].primary


def test_class_subset_keeps_the_order_asked() -> None:
    texts = label_texts("mmfit", ["pushups", "squats"])
    assert list(texts) == ["pushups", "squats"]
    with pytest.raises(ConfigError, match="'burpees'"):
        label_texts("mmfit", ["burpees"])


def test_unknown_dataset() -> None:
    with pytest.raises(UnknownNameError):
        label_texts("nope")


def test_csv_fallback() -> None:
    assert fallback_text("bench_press") == LabelText("a person doing bench press")
    assert label_texts("csv", ["bench_press", "wall  sit"]) == {
        "bench_press": LabelText("a person doing bench press"),
        "wall  sit": LabelText("a person doing wall sit"),
    }
    assert null_text("csv").primary == FALLBACK_NULL_TEXT
    with pytest.raises(ConfigError, match="classes"):
        label_texts("csv")
    with pytest.raises(ConfigError):
        fallback_text(" _ ")


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "texts.toml"
    path.write_text(body, encoding="utf-8")
    return path


USER = """
[csv.classes.squat]
primary = "squatting down with a barbell on the shoulders and standing back up"
alternatives = ["back squat with a bar"]

[csv.classes.rest]
primary = "sitting on a bench between sets"

[csv.null]
primary = "walking around the gym"
"""


def test_user_file_for_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, USER)
    texts = label_texts("csv", ["rest", "squat"], path=path)
    assert texts["squat"].alternatives == ("back squat with a bar",)
    assert texts["rest"].alternatives == ()
    assert null_text("csv", path=path).primary == "walking around the gym"
    with pytest.raises(LayoutError, match="deadlift") as err:
        label_texts("csv", ["squat", "deadlift"], path=path)
    assert err.value.path == str(path) and err.value.field == "csv.classes"


def test_user_file_overriding_a_builtin_dataset_must_be_complete(tmp_path: Path) -> None:
    path = _write(tmp_path, '[motionsense.classes.jog]\nprimary = "jogging slowly"\n')
    with pytest.raises(LayoutError, match="dws"):
        label_texts("motionsense", path=path)
    full = "".join(
        f'[motionsense.classes.{c}]\nprimary = "text of {c}"\n' for c in DATASETS.get("motionsense").spec.classes
    )
    extra = full + '[motionsense.classes.swim]\nprimary = "swimming"\n'
    with pytest.raises(LayoutError, match=r"unknown class.*swim"):
        label_texts("motionsense", path=_write(tmp_path, extra))
    assert label_texts("motionsense", path=_write(tmp_path, full))["sit"].primary == "text of sit"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ('[csv.classes.a]\nprimary = ""\n', "csv.classes.a.primary", "empty"),
        ("[csv.classes.a]\nprimary = 3\n", "csv.classes.a.primary", "string"),
        ('[csv.classes.a]\nalternatives = ["x"]\n', "csv.classes.a", "primary"),
        ('[csv.classes.a]\nprimary = "x"\nalternatives = "y"\n', "csv.classes.a.alternatives", "list"),
        ('[csv.classes.a]\nprimary = "x"\nalternatives = ["y", " "]\n', "csv.classes.a.alternatives[1]", "empty"),
        ('[csv.classes.a]\nprimary = "x"\ncolour = "red"\n', "csv.classes.a", "colour"),
        ('[csv.classs.a]\nprimary = "x"\n', "csv", "classs"),
        ('[csv.classes]\na = "x"\n', "csv.classes.a", "table"),
        ("csv = 1\n", "csv", "table"),
        (
            '[csv.classes.a]\nprimary = "Same text"\n[csv.classes.b]\nprimary = "same  text"\n',
            "csv.classes.b",
            "repeated",
        ),
    ],
)
def test_schema_errors(tmp_path: Path, body: str, field: str, message: str) -> None:
    with pytest.raises(LayoutError, match=message) as err:
        load_label_texts(_write(tmp_path, body))
    assert err.value.field == field


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        load_label_texts(tmp_path / "missing.toml")
    with pytest.raises(LayoutError) as err:
        load_label_texts(_write(tmp_path, '[csv.classes.a]\nprimary = "x"\n\nprimary = oops\n'))
    assert err.value.line == 4
    with pytest.raises(LayoutError, match="no texts for dataset 'csv'"):
        label_texts("csv", ["a"], path=_write(tmp_path, '[other.classes.a]\nprimary = "x"\n'))


def test_texts_module_is_numpy_free() -> None:
    code = (
        "import sys; from mujo_edge.data import texts; t = texts.packaged_texts(); "
        "assert 'numpy' not in sys.modules, 'numpy imported'; print(len(t))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
