"""`python -m mujo_edge` runs the CLI."""

from mujo_edge.cli import main

main()
