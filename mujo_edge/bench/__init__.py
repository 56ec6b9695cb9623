"""Benchmarks a device can run: the format matrix, FLOPs and the streaming load (torch-free but the torch row)."""
