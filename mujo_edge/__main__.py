"""`python -m mujo_edge` runs the CLI."""

from mujo_edge.cli import main

if __name__ == "__main__":
    main()
