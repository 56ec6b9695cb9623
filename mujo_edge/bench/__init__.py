"""Benchmarks a device can run: the format matrix, FLOPs and the streaming load (torch-free but the torch row).

Application layer (ARCHITECTURE.md), not core: it drives the runtime's engines, the bridge's BLE client and
watch emulator, and (for the torch reference row and the FLOPs table) export and training, so it sits above all
of them and nothing below imports it. This package is the library the `mujo-edge bench` commands call; the
`benchmarks/` folder holds the scripts that run it and the result files the README quotes.
"""
