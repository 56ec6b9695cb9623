"""The text of every activity label: curated descriptions that MuJo's text modality embeds.

Each class of each built-in dataset has one primary sentence and a few alternative phrasings, shipped in
`mujo_edge/data/label_texts.toml` (schema described at the top of that file). Model bundles store the
primary sentence as "the text used for each label". The `csv` dataset takes its classes from the user's
labels: its texts come from the user's own TOML file in the same schema, or from a `mujo-labels.toml` next
to the data (`user_label_texts`: one description per label), or fall back to "a person doing <label>".

Numpy-free: only tomllib and importlib.resources, so reading texts never needs the training stack.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError

if TYPE_CHECKING:
    from mujo_edge.data.base import DatasetSpec

PACKAGED_FILE = "label_texts.toml"
LABELS_FILE = "mujo-labels.toml"  # the user's descriptions of their labels, next to their CSV files
_PACKAGED_NAME = f"mujo_edge/data/{PACKAGED_FILE}"
_DATASET_KEYS = ("classes", "null")
_TEXT_KEYS = ("primary", "alternatives")

FALLBACK_NULL_TEXT = "no particular activity: the person is resting, moving between activities or doing something else"


@dataclass(frozen=True)
class LabelText:
    """The sentences describing one label: `primary` (stored in bundles) and alternative phrasings."""

    primary: str
    alternatives: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        """The primary sentence followed by the alternatives."""
        return (self.primary, *self.alternatives)


@dataclass(frozen=True)
class DatasetTexts:
    """One dataset's table of a label-texts file: texts per class code, and the NULL text if any."""

    classes: Mapping[str, LabelText] = field(default_factory=lambda: MappingProxyType({}))
    null: LabelText | None = None


def fallback_text(label: str) -> LabelText:
    """ "a person doing <label>" with underscores as spaces: the text of a user label nobody described."""
    words = " ".join(label.replace("_", " ").split())
    if not words:
        raise ConfigError(f"label {label!r} has no words to describe", field="label")
    return LabelText(f"a person doing {words}")


def load_label_texts(path: str | Path) -> dict[str, DatasetTexts]:
    """Read a label-texts TOML file (the schema of the packaged `label_texts.toml`), by dataset name.

    Checks the schema only: tables `<dataset>.classes.<label>` and `<dataset>.null`, each with a
    non-empty string `primary` and an optional list of non-empty strings `alternatives`, and no sentence
    repeated within a dataset. Completeness against a dataset's classes is checked by `label_texts`.
    Raises DataNotFoundError if the file is missing, LayoutError naming the field otherwise.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError("label-texts file not found", path=path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LayoutError(f"cannot read label-texts file ({e})", path=path) from None
    return _parse(raw, str(path))


def label_texts(
    dataset: str,
    classes: Sequence[str] | None = None,
    *,
    path: str | Path | None = None,
    data_root: str | Path | None = None,
) -> dict[str, LabelText]:
    """The texts of a dataset's classes, in class order: {class code: LabelText}.

    dataset: a registered loader name. For datasets with fixed classes, `classes` may select a subset
    (default: all of the loader's classes) and the texts come from `path` if given, else the packaged file;
    every class of the loader must be described and no unknown class may be. For `csv` (classes come from
    the user's labels) `classes` is required; without `path` each label gets `fallback_text`, with `path`
    the file's `[csv.classes.<label>]` tables must describe every label. `data_root` (the folder or file the
    `csv` data was read from) adds the descriptions of its `mujo-labels.toml` (`user_label_texts`); labels it
    does not describe keep `fallback_text`. Fixed-class datasets ignore `data_root`.
    """
    spec = _spec(dataset)
    source = _source_name(path)
    if spec.classes:
        wanted = tuple(spec.classes) if classes is None else tuple(classes)
        unknown = [c for c in wanted if c not in spec.classes]
        if unknown:
            raise ConfigError(
                f"{', '.join(map(repr, unknown))} not classes of dataset '{dataset}' "
                f"(classes: {', '.join(spec.classes)})",
                field="classes",
            )
        table = _dataset_table(dataset, path)
        missing = [c for c in spec.classes if c not in table.classes]
        if missing:
            raise LayoutError(
                f"no text for class(es) {', '.join(missing)} of dataset '{dataset}'",
                path=source,
                field=f"{dataset}.classes",
            )
        extra = [c for c in table.classes if c not in spec.classes]
        if extra:
            raise LayoutError(
                f"unknown class(es) {', '.join(extra)} for dataset '{dataset}' (classes: {', '.join(spec.classes)})",
                path=source,
                field=f"{dataset}.classes",
            )
        return {c: table.classes[c] for c in wanted}
    if classes is None:
        raise ConfigError(
            f"dataset '{dataset}' takes its classes from your labels: pass them as `classes`", field="classes"
        )
    wanted = tuple(classes)
    if path is None:
        if data_root is None:
            return {c: fallback_text(c) for c in wanted}
        described = user_label_texts(data_root)
        texts = {c: described.get(c) or fallback_text(c) for c in wanted}
        # a description may repeat another label's fallback text, which the file alone cannot show
        _check_unique("", texts, None, str(_labels_file(data_root)))
        return texts
    table = _dataset_table(dataset, path)
    missing = [c for c in wanted if c not in table.classes]
    if missing:
        raise LayoutError(f"no text for label(s) {', '.join(missing)}", path=source, field=f"{dataset}.classes")
    return {c: table.classes[c] for c in wanted}


def null_text(dataset: str, *, path: str | Path | None = None) -> LabelText:
    """The text of a dataset's NULL class (no particular activity / unlabelled).

    Fixed-class datasets: only those with a NULL class (`spec.has_null`) have one; it comes from `path` if
    given, else the packaged file. `csv`: the file's `[csv.null]` table if given, else a generic text.
    """
    spec = _spec(dataset)
    if spec.classes and not spec.has_null:
        raise ConfigError(f"dataset '{dataset}' has no NULL class", field="dataset")
    if not spec.classes and path is None:
        return LabelText(FALLBACK_NULL_TEXT)
    table = _dataset_table(dataset, path)
    if table.null is None:
        if not spec.classes:
            return LabelText(FALLBACK_NULL_TEXT)
        raise LayoutError(f"no NULL text for dataset '{dataset}'", path=_source_name(path), field=f"{dataset}.null")
    return table.null


def user_label_texts(data_root: str | Path) -> dict[str, LabelText]:
    """The descriptions in the `mujo-labels.toml` next to the data at `data_root` ({} without one):

    ```toml
    sq = "a person doing squats"
    lj = { primary = "a person doing forward lunges", alternatives = ["lunges, alternating legs"] }
    ```
    LayoutError naming the file and the label of a bad entry (not a sentence, an unknown key, a repeat)."""
    path = _labels_file(data_root)
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        m = re.search(r"line (\d+)", str(e))
        raise LayoutError(f"not valid TOML ({e})", path=path, line=int(m.group(1)) if m else None) from None
    texts = {
        str(label): LabelText(_sentence(entry, str(path), label))
        if isinstance(entry, str)
        else _label_text(entry, str(path), label)
        for label, entry in doc.items()
    }
    _check_unique("", texts, None, str(path))
    return texts


# --- internals ---------------------------------------------------------------------------------------------


def _labels_file(data_root: str | Path) -> Path:
    # imported here: one rule for "next to the data", shared with the column mapping
    from mujo_edge.data.csv_mapping import beside_data

    return beside_data(Path(data_root).expanduser(), LABELS_FILE)


def _spec(dataset: str) -> DatasetSpec:
    # imported here: the registry imports every loader (numpy, scipy), which reading texts does not need
    from mujo_edge.data.registry import get_loader

    return get_loader(dataset).spec


def _source_name(path: str | Path | None) -> str:
    return _PACKAGED_NAME if path is None else str(Path(path).expanduser())


def _dataset_table(dataset: str, path: str | Path | None) -> DatasetTexts:
    tables = packaged_texts() if path is None else load_label_texts(path)
    if dataset not in tables:
        raise LayoutError(
            f"no texts for dataset '{dataset}' (tables: {', '.join(tables) or 'none'})",
            path=_source_name(path),
            field=dataset,
        )
    return tables[dataset]


@functools.cache
def _packaged() -> Mapping[str, DatasetTexts]:
    resource = importlib.resources.files("mujo_edge.data").joinpath(PACKAGED_FILE)
    try:
        raw = resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataNotFoundError("packaged label texts missing (broken install?)", path=_PACKAGED_NAME) from None
    return MappingProxyType(_parse(raw, _PACKAGED_NAME))


def packaged_texts() -> dict[str, DatasetTexts]:
    """Every table of the packaged `label_texts.toml`, by dataset name (parsed once per process)."""
    return dict(_packaged())


def _parse(raw: str, source: str) -> dict[str, DatasetTexts]:
    try:
        doc = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise LayoutError(f"not valid TOML ({e})", path=source, line=int(m.group(1)) if m else None) from None
    out: dict[str, DatasetTexts] = {}
    for dataset, table in doc.items():
        if not isinstance(table, dict):
            raise LayoutError("expected a table [<dataset>.classes.<label>]", path=source, field=dataset)
        unknown = [k for k in table if k not in _DATASET_KEYS]
        if unknown:
            raise LayoutError(
                f"unknown key(s) {', '.join(unknown)}; expected {' and '.join(_DATASET_KEYS)}",
                path=source,
                field=dataset,
            )
        classes_table = table.get("classes", {})
        if not isinstance(classes_table, dict):
            raise LayoutError("expected tables [<dataset>.classes.<label>]", path=source, field=f"{dataset}.classes")
        classes = {
            str(label): _label_text(entry, source, f"{dataset}.classes.{label}")
            for label, entry in classes_table.items()
        }
        null = _label_text(table["null"], source, f"{dataset}.null") if "null" in table else None
        if not classes and null is None:
            raise LayoutError("no class texts", path=source, field=dataset)
        _check_unique(dataset, classes, null, source)
        out[dataset] = DatasetTexts(classes=MappingProxyType(classes), null=null)
    return out


def _label_text(entry: Any, source: str, where: str) -> LabelText:
    if not isinstance(entry, dict):
        raise LayoutError("expected a table with `primary` and `alternatives`", path=source, field=where)
    unknown = [k for k in entry if k not in _TEXT_KEYS]
    if unknown:
        raise LayoutError(
            f"unknown key(s) {', '.join(unknown)}; expected {' and '.join(_TEXT_KEYS)}", path=source, field=where
        )
    if "primary" not in entry:
        raise LayoutError("missing `primary`", path=source, field=where)
    primary = _sentence(entry["primary"], source, f"{where}.primary")
    alternatives = entry.get("alternatives", [])
    if not isinstance(alternatives, list):
        raise LayoutError("expected a list of strings", path=source, field=f"{where}.alternatives")
    alts = tuple(_sentence(a, source, f"{where}.alternatives[{i}]") for i, a in enumerate(alternatives))
    return LabelText(primary, alts)


def _sentence(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str):
        raise LayoutError(f"expected a string, got {type(value).__name__}", path=source, field=where)
    text = " ".join(value.split())
    if not text:
        raise LayoutError("empty text", path=source, field=where)
    return text


def _check_unique(dataset: str, classes: Mapping[str, LabelText], null: LabelText | None, source: str) -> None:
    # the same sentence under two labels would make the contrastive targets of those labels identical
    seen: dict[str, str] = {}
    # without a dataset (a user's mujo-labels.toml) an entry is named by its label alone, as the file names it
    entries = [(f"{dataset}.classes.{label}" if dataset else label, t) for label, t in classes.items()]
    if null is not None:
        entries.append((f"{dataset}.null", null))
    for where, text in entries:
        for sentence in text.all:
            key = sentence.casefold()
            if key in seen:
                raise LayoutError(f"text repeated (also in {seen[key]}): {sentence!r}", path=source, field=where)
            seen[key] = where
