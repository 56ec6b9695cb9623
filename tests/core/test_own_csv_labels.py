"""Descriptions of your own labels from a `mujo-labels.toml` next to the data, instead of "a person doing <label>"."""

import pytest

from mujo_edge.data.texts import LABELS_FILE, LabelText, label_texts, user_label_texts
from mujo_edge.errors import LayoutError

LABELS = """
sq = "a person doing squats"
lj = { primary = "a person doing forward lunges", alternatives = ["lunges, alternating legs"] }
"""


def test_described_labels_replace_the_fallback(tmp_path):
    (tmp_path / LABELS_FILE).write_text(LABELS)
    texts = label_texts("csv", ["lj", "sq", "pl"], data_root=tmp_path)
    assert texts["sq"] == LabelText("a person doing squats")
    assert texts["lj"] == LabelText("a person doing forward lunges", ("lunges, alternating legs",))
    assert texts["pl"] == LabelText("a person doing pl")  # not described: the fallback


def test_a_single_file_root_finds_the_file_in_its_folder(tmp_path):
    (tmp_path / LABELS_FILE).write_text(LABELS)
    f = tmp_path / "alice.csv"
    f.write_text("timestamp\n")
    assert label_texts("csv", ["sq"], data_root=f)["sq"].primary == "a person doing squats"


def test_without_the_file_or_root_the_fallback_is_kept(tmp_path):
    assert label_texts("csv", ["sq"], data_root=tmp_path)["sq"].primary == "a person doing sq"
    assert label_texts("csv", ["sq"])["sq"].primary == "a person doing sq"
    assert user_label_texts(tmp_path) == {}


@pytest.mark.parametrize(
    "text, field",
    [
        ("sq = 3\n", "sq"),
        ('sq = ""\n', "sq"),
        ('sq = { primary = "x", colour = "red" }\n', "sq"),
        ('sq = "same words"\nlj = "Same  words"\n', "lj"),
        ("sq = \n", None),
    ],
)
def test_a_bad_labels_file_names_file_and_label(tmp_path, text, field):
    (tmp_path / LABELS_FILE).write_text(text)
    with pytest.raises(LayoutError) as e:
        label_texts("csv", ["sq", "lj"], data_root=tmp_path)
    assert e.value.path == str(tmp_path / LABELS_FILE)
    if field:
        assert e.value.field == field


def test_a_description_equal_to_another_labels_fallback_is_refused(tmp_path):
    # two labels with one text would give them identical contrastive targets
    (tmp_path / LABELS_FILE).write_text('sq = "a person doing pl"\n')
    with pytest.raises(LayoutError, match="repeated"):
        label_texts("csv", ["sq", "pl"], data_root=tmp_path)


def test_fixed_class_datasets_ignore_data_root(tmp_path):
    (tmp_path / LABELS_FILE).write_text('PEN = "anything"\n')
    assert label_texts("spar_watch", ["PEN"], data_root=tmp_path) == label_texts("spar_watch", ["PEN"])
