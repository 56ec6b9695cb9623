"""Wearable bridge (imported as `mujo_edge.firmware_bridge`): BLE protocol codecs, client and watch emulator.

Owns bytes <-> samples; knows nothing of models and never imports torch.
"""
