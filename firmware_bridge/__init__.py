"""Wearable bridge (imported as `mujo_edge.firmware_bridge`): BLE protocol codecs, client and watch emulator.

Owns bytes <-> samples; knows nothing of models and never imports torch. Importing this package imports nothing
else; the parts are:

- `samples.AccBatch`: what every decoder yields (device times in s, specific force in m/s^2, seq, loss count).
- `errors.ProtocolError`: the one error a malformed packet raises (protocol, field, the packet bytes).
  `errors.SimLinkError` and `errors.PeripheralStateError` are the simulated radio's (see `sim`).
- `protocols`: the codecs, registered by name in `protocols.PROTOCOLS` ("polar", "infinitime", "metawear",
  "banglejs", "mujo"); each `Protocol` gives UUIDs, the writes that start/stop a stream, and per-stream
  `Decoder` (payload -> AccBatch) and `Encoder` (samples -> payloads, for the emulator) factories. Pure numpy.
- `watch_apps/`: watch-side code shipped as package data (the Bangle.js streaming app).
- `PROFILE.md`: mujo-edge's own GATT profile, for watch firmware authors.
"""
