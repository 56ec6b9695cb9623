"""README result tables come from results files: rendering by hand-checked numbers, marker handling, errors."""

import csv

import pytest

from mujo_edge.errors import LayoutError
from mujo_edge.training.results_tables import (
    load_tables_file,
    markers,
    render_block,
    render_table,
    split_method,
    update_readme,
)

FIELDS = ["target", "method", "regime", "fraction", "fold", "run", "seed", "macro_f1", "macro_f1_smoothed"]


def write_results(folder, rows):
    folder.mkdir(parents=True)
    with (folder / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        for i, (method, regime, fraction, f1) in enumerate(rows):
            w.writerow(
                {
                    "target": "t",
                    "method": method,
                    "regime": regime,
                    "fraction": fraction,
                    "fold": 1,
                    "run": i + 1,
                    "seed": i,
                    "macro_f1": f1,
                    "macro_f1_smoothed": f1,
                }
            )


def render_table_file(tmp_path, table):
    """The lines of a one-table block whose [[block.table]] body (after its title) is `table`, folders under res/."""
    tables = tmp_path / "res" / "tables.toml"
    tables.write_text('[[block]]\nname = "t"\n[[block.table]]\ntitle = "T"\n' + table)
    return render_block(load_tables_file(tables)[0]).splitlines()


def test_split_method_names_the_pretraining_run():
    assert split_method("recipe#2") == ("recipe", "2")
    assert split_method("recipe") == ("recipe", "1")
    assert split_method("none") == ("none", "")
    assert split_method("random_forest") == ("random_forest", "")


def test_table_means_stds_and_each_pretraining_runs_mean(tmp_path):
    write_results(
        tmp_path / "a",
        [
            ("recipe#1", "finetuned", "0.02", 0.6),
            ("recipe#1", "finetuned", "0.02", 0.8),
            ("recipe#2", "finetuned", "0.02", 0.7),
            ("recipe#2", "finetuned", "0.02", 0.9),
            ("none", "baseline", "0.02", 0.5),
            ("random_forest", "-", "0.02", 0.75),
            ("random_forest", "-", "1.0", 0.85),
        ],
    )
    from mujo_edge.training.results_tables import read_rows

    lines = render_table(read_rows([tmp_path / "a"]))
    assert lines[0] == "| method | 2% labels | 100% labels |"
    # recipe: mean 0.75, population std of (0.6, 0.8, 0.7, 0.9) = 0.1118; run means 0.7 and 0.8
    assert lines[2] == "| recipe (finetuned) | 0.750 +- 0.112 (n=4); pre-training runs 0.700 / 0.800 | - |"
    assert lines[3] == "| random init | 0.500 +- 0.000 (n=1) | - |"
    assert lines[4] == "| features + random forest | 0.750 +- 0.000 (n=1) | 0.850 +- 0.000 (n=1) |"


def test_tables_file_and_readme_block_round_trip(tmp_path):
    write_results(tmp_path / "res" / "spar", [("random_forest", "-", "0.1", 0.8)])
    tables = tmp_path / "res" / "tables.toml"
    tables.write_text('[[block]]\nname = "le"\n[[block.table]]\ntitle = "SPAR"\nfolders = ["spar"]\n')
    (block,) = load_tables_file(tables)
    body = render_block(block)
    assert body.startswith("**SPAR**\n\n| method | 10% labels |")
    readme = f"intro\n{markers('le')[0]}\nold numbers\n{markers('le')[1]}\noutro\n"
    new = update_readme(readme, "le", body)
    assert "old numbers" not in new and body in new and new.startswith("intro\n") and new.endswith("outro\n")
    assert update_readme(new, "le", body) == new  # idempotent: the check a test runs on the real README


def test_missing_markers_folders_and_blocks_are_clear_errors(tmp_path):
    with pytest.raises(LayoutError, match="markers of block 'x'"):
        update_readme("no markers here", "x", "body")
    tables = tmp_path / "tables.toml"
    tables.write_text('[[block]]\nname = "le"\n[[block.table]]\ntitle = "T"\nfolders = ["nowhere"]\n')
    with pytest.raises(LayoutError, match=r"no results\.csv"):
        render_block(load_tables_file(tables)[0])
    tables.write_text("")
    with pytest.raises(LayoutError, match="no \\[\\[block\\]\\]"):
        load_tables_file(tables)


def test_an_ablation_table_picks_orders_and_labels_its_rows_and_columns(tmp_path):
    write_results(
        tmp_path / "res" / "spar",
        [
            ("recipe", "finetuned", "0.1", 0.8),
            ("recipe", "finetuned", "1.0", 0.9),
            ("recipe", "finetuned", "0.02", 0.7),
            ("none", "baseline", "0.1", 0.6),
            ("random_forest", "-", "0.1", 0.75),
        ],
    )
    tables = tmp_path / "res" / "tables.toml"
    tables.write_text(
        '[[block]]\nname = "abl"\n[[block.table]]\ntitle = "Ablation"\nfolders = ["spar"]\nfractions = [0.1, 1.0]\n'
        'rows = [{method = "recipe", regime = "finetuned", label = "the recipe"},\n'
        '        {method = "none", regime = "baseline", label = "- pre-training"},\n'
        '        {method = "recipe", regime = "frozen", label = "frozen encoder"}]\n'
    )
    lines = render_block(load_tables_file(tables)[0]).splitlines()
    assert lines[2] == "| method | 10% labels | 100% labels |"
    assert lines[4] == "| the recipe | 0.800 +- 0.000 (n=1) | 0.900 +- 0.000 (n=1) |"
    assert lines[5] == "| - pre-training | 0.600 +- 0.000 (n=1) | - |"
    assert lines[6] == "| frozen encoder | - | - |"
    assert len(lines) == 7  # the forest is not picked
    tables.write_text(
        '[[block]]\nname = "abl"\n[[block.table]]\ntitle = "A"\nfolders = ["spar"]\nrows = [{method = "x"}]\n'
    )
    with pytest.raises(LayoutError, match="rows need method, regime and label"):
        load_tables_file(tables)


def test_a_run_found_in_two_folders_counts_once(tmp_path):
    from mujo_edge.training.results_tables import read_rows

    write_results(tmp_path / "a", [("random_forest", "-", "1.0", 0.8)])
    write_results(tmp_path / "b", [("random_forest", "-", "1.0", 0.8), ("recipe", "finetuned", "1.0", 0.9)])
    rows = read_rows([tmp_path / "a", tmp_path / "b"])
    assert [r["method"] for r in rows] == ["random_forest", "recipe"]


def test_a_lever_row_reads_its_own_folder_not_the_recipes_runs_of_the_same_seeds(tmp_path):
    """A lever is its own grid with the recipe's method names, folds and seeds: merged by the run key, its rows
    would vanish behind the recipe's; a row with `folder` takes its runs from there alone."""
    write_results(
        tmp_path / "res" / "recipe", [("real#1", "finetuned", "0.02", 0.70), ("real#2", "finetuned", "0.02", 0.6)]
    )
    write_results(
        tmp_path / "res" / "lever", [("real#1", "finetuned", "0.02", 0.80), ("real#2", "finetuned", "0.02", 0.9)]
    )
    lines = render_table_file(
        tmp_path,
        'folders = ["recipe"]\nrows = [{method = "real", regime = "finetuned", label = "recipe"},\n'
        '        {method = "real", regime = "finetuned", label = "+ lever", folder = "lever"}]\n',
    )
    assert lines[4] == "| recipe | 0.650 +- 0.050 (n=2); pre-training runs 0.700 / 0.600 |"
    assert lines[5] == "| + lever | 0.850 +- 0.050 (n=2); pre-training runs 0.800 / 0.900 |"


def test_a_row_reads_another_folder_at_the_fractions_it_names(tmp_path):
    """The recipe's lever measured at few labels in its own folder, and at 100 % (where it cannot change a run)
    taken from the recipe's folder: one row, each fraction from the folder it names, nothing merged."""
    write_results(
        tmp_path / "res" / "recipe", [("real#1", "finetuned", "0.02", 0.70), ("real#1", "finetuned", "1.0", 0.95)]
    )
    write_results(
        tmp_path / "res" / "lever", [("real#1", "finetuned", "0.02", 0.80), ("real#1", "finetuned", "1.0", 0.5)]
    )
    lines = render_table_file(
        tmp_path,
        'folders = ["recipe"]\nrows = [{method = "real", regime = "finetuned", label = "recipe + lever", '
        'folder = "lever", folder_at = { "1.0" = "recipe" }}]\n',
    )
    assert lines[4] == "| recipe + lever | 0.800 +- 0.000 (n=1) | 0.950 +- 0.000 (n=1) |"
    with pytest.raises(LayoutError, match="fractions are numbers"):
        render_table_file(
            tmp_path,
            'folders = ["recipe"]\nrows = [{method = "real", regime = "finetuned", label = "x", '
            'folder_at = { "all" = "recipe" }}]\n',
        )


def test_a_difference_row_is_computed_from_the_two_rows_it_names(tmp_path):
    write_results(
        tmp_path / "res" / "r",
        [
            ("real#1", "finetuned", "0.02", 0.70),
            ("real#2", "finetuned", "0.02", 0.80),
            ("real#1", "finetuned", "1.0", 0.90),
            ("random_forest", "-", "0.02", 0.74),
        ],
    )
    rows = (
        'folders = ["r"]\nrows = [{method = "real", regime = "finetuned", label = "recipe"}, '
        '{method = "random_forest", regime = "-", label = "forest"}]\n'
    )
    lines = render_table_file(
        tmp_path, rows + 'difference = { label = "recipe - forest", rows = ["recipe", "forest"] }\n'
    )
    assert lines[-1] == "| **recipe - forest** | +0.010 | - |"  # 0.75 - 0.74; no forest at 100 %
    with pytest.raises(LayoutError, match="difference names two rows"):
        render_table_file(tmp_path, rows + 'difference = { label = "x", rows = ["recipe", "forrest"] }\n')


def test_a_row_pools_the_runs_of_the_folders_it_lists(tmp_path):
    """One lever on two targets: a row listing both folders averages every run of both (equal runs per target:
    the mean of the targets' means), which is what a choice over targets is made on."""
    write_results(tmp_path / "res" / "a", [("real#1", "finetuned", "0.02", 0.6), ("real#1", "finetuned", "0.02", 0.8)])
    write_results(tmp_path / "res" / "b", [("real#1", "finetuned", "0.02", 0.9), ("real#1", "finetuned", "0.02", 0.9)])
    write_results(tmp_path / "res" / "a100", [("real#1", "finetuned", "1.0", 0.5)])
    write_results(
        tmp_path / "res" / "b100", [("real#1", "finetuned", "1.0", 0.7), ("real#1", "finetuned", "0.02", 0.0)]
    )
    for name in ("a", "b", "a100", "b100"):  # the grids share folds and seeds but not the target
        path = tmp_path / "res" / name / "results.csv"
        path.write_text(path.read_text().replace("\nt,", f"\n{name[0]},"))
    lines = render_table_file(
        tmp_path,
        'folders = ["a"]\nrows = [{method = "real", regime = "finetuned", label = "lever, both targets", '
        'folder = ["a", "b"], folder_at = { "1.0" = ["a100", "b100"] }}]\nfractions = [0.02, 1.0]\n',
    )
    assert lines[4] == "| lever, both targets | 0.800 +- 0.122 (n=4) | 0.600 +- 0.100 (n=2) |"
