// mujo-edge streaming app for Bangle.js 2 (Espruino). The host uploads this over the Nordic UART on connect,
// then calls mujoStart(rate, batch); mujoStop() ends the stream. Written for mujo_edge.firmware_bridge.
//
// One line per batch of samples:   "MJ:" + base64(packet) + "\r\n"
// packet, little-endian (12-byte header, then count samples):
//   u8 version = 1 | u16 seq | u32 t0_ms | u16 span_ms | u16 rate in 0.1 Hz | u8 count | count x (i16 x, y, z)
// t0_ms is the time of the batch's first sample since mujoStart, span_ms the last sample's time minus the first's.
// x, y, z are Bangle.js's own accelerometer readings in milli-g, unchanged (the host converts the sign).
// seq counts batches (wrapping at 65536), so the host can count lost lines.
// Budget: 10 samples -> 72 bytes -> 96 base64 chars + 5 = 101 bytes per line, 5 lines/s at 50 Hz = ~0.5 kB/s,
// a fifth of the ~2.5 kB/s the UART carries.
var mujo = {on: false, seq: 0, n: 0, batch: 10, rate: 50, t0: 0, tStart: 0, tLast: 0, buf: null, dv: null};
var MUJO_ODR = {"12.5": 0, "25": 1, "50": 2, "100": 3};

function mujoSend() {
  var m = mujo;
  var dv = m.dv;
  dv.setUint8(0, 1);
  dv.setUint16(1, m.seq, true);
  dv.setUint32(3, Math.round((m.t0 - m.tStart) * 1000), true);
  dv.setUint16(7, Math.min(65535, Math.round((m.tLast - m.t0) * 1000)), true);
  dv.setUint16(9, Math.round(m.rate * 10), true);
  dv.setUint8(11, m.n);
  Bluetooth.println("MJ:" + btoa(E.toString(new Uint8Array(m.buf, 0, 12 + 6 * m.n))));
  m.seq = (m.seq + 1) & 0xFFFF;
  m.n = 0;
}

function mujoMilliG(v) {
  v = Math.round(v * 1000);
  return v > 32767 ? 32767 : (v < -32768 ? -32768 : v);
}

function mujoAccel(a) {
  var m = mujo;
  var t = getTime();
  if (m.n === 0) m.t0 = t;
  m.tLast = t;
  var o = 12 + 6 * m.n;
  m.dv.setInt16(o, mujoMilliG(a.x), true);
  m.dv.setInt16(o + 2, mujoMilliG(a.y), true);
  m.dv.setInt16(o + 4, mujoMilliG(a.z), true);
  m.n++;
  if (m.n >= m.batch) mujoSend();
}

function mujoStart(rate, batch) {
  mujoStop();
  var m = mujo;
  m.rate = rate || 50;
  m.batch = batch || 10;
  m.buf = new ArrayBuffer(12 + 6 * m.batch);
  m.dv = new DataView(m.buf);
  m.seq = 0;
  m.n = 0;
  m.tStart = getTime();
  // Without this Bangle.js 2 lowers its poll rate after a while without movement.
  Bangle.setOptions({powerSave: false});
  // KX023 CNTL1 = standby, +-4 g, 16 bit: range and rate may only change in standby.
  // +-4 g is the range Espruino's conversion to g assumes.
  Bangle.accelWr(0x18, 0x6C);
  // ODCNTL: output data rate (0 = 12.5 Hz .. 3 = 100 Hz) with the ODR/2 filter.
  Bangle.accelWr(0x1B, 0x40 | MUJO_ODR[m.rate]);
  // CNTL1 = operating, +-4 g, 16 bit.
  Bangle.accelWr(0x18, 0xEC);
  // 20 ms at 50 Hz: one 'accel' event per sample.
  Bangle.setPollInterval(1000 / m.rate);
  Bangle.on("accel", mujoAccel);
  m.on = true;
}

function mujoStop() {
  if (!mujo.on) return;
  Bangle.removeListener("accel", mujoAccel);
  Bangle.setPollInterval(80);
  Bangle.setOptions({powerSave: true});
  mujo.on = false;
}
