"""The README's generated result blocks equal what the committed results files give (no hand-copied numbers)."""

from mujo_edge.training.results_tables import load_tables_file, markers, render_block, update_readme
from tests.conftest import REPO

TABLES = REPO / "benchmarks" / "results" / "tables.toml"


def test_every_result_block_of_the_readme_is_generated_from_the_committed_files():
    readme = (REPO / "README.md").read_text()
    blocks = load_tables_file(TABLES)
    assert blocks
    for block in blocks:
        assert markers(block.name)[0] in readme
        assert update_readme(readme, block.name, render_block(block)) == readme, (
            f"README block {block.name!r} differs from its results files: run `mujo-edge experiment report`"
        )
