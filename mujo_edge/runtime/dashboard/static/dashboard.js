// mujo-edge live dashboard: one WebSocket of frames from the server, one panel per watch, the acceleration trace
// drawn on a plain canvas. Everything from the server is written with textContent, never parsed as HTML.
// The data-* attributes (frames, fps, draws, label-changes, reps-max) are what the browser tests wait on.
"use strict";

const COLORS = { x: "#d9480f", y: "#2b8a3e", z: "#1971c2", m: "#343a40" };
const panels = new Map(); // watch id -> {el, t, x, y, z, label, draws}
let traceSeconds = 10;
let frames = 0;
const arrivals = []; // frame arrival times (ms) over the last 2 s, for the update rate shown and tested

function $(root, selector) { return root.querySelector(selector); }

function fmt(v, digits, unit) {
  return v === null || v === undefined || Number.isNaN(v) ? "–" : v.toFixed(digits) + (unit || "");
}

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function panelFor(watch) {
  let p = panels.get(watch.id);
  if (p) return p;
  const el = document.getElementById("panel-template").content.firstElementChild.cloneNode(true);
  el.dataset.watch = watch.id;
  $(el, ".name").textContent = watch.name;
  const empty = document.getElementById("empty");
  if (empty) empty.remove();
  const main = document.getElementById("watches");
  main.appendChild(el);
  p = { el, t: [], x: [], y: [], z: [], now: null, label: null, draws: 0, repsMax: 0, labelChanges: 0 };
  panels.set(watch.id, p);
  main.dataset.panels = String(panels.size);
  return p;
}

function takeTrace(p, trace) {
  if (trace.reset) { p.t = []; p.x = []; p.y = []; p.z = []; }
  for (let i = 0; i < trace.t.length; i++) {
    p.t.push(trace.t[i]); p.x.push(trace.x[i]); p.y.push(trace.y[i]); p.z.push(trace.z[i]);
  }
  if (!p.t.length) return;
  const from = Math.max(p.t[p.t.length - 1], p.now || 0) - traceSeconds;
  let cut = 0;
  while (cut < p.t.length && p.t[cut] < from) cut++;
  if (cut) { p.t.splice(0, cut); p.x.splice(0, cut); p.y.splice(0, cut); p.z.splice(0, cut); }
}

function draw(p) {
  const canvas = $(p.el, "canvas.trace");
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const h = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const n = p.t.length;
  if (n < 2) return;
  const mag = new Array(n);
  let lo = 0, hi = 0;
  for (let i = 0; i < n; i++) {
    mag[i] = Math.hypot(p.x[i], p.y[i], p.z[i]);
    lo = Math.min(lo, p.x[i], p.y[i], p.z[i]);
    hi = Math.max(hi, p.x[i], p.y[i], p.z[i], mag[i]);
  }
  const span = Math.max(hi - lo, 20); // at least +-10 m/s^2 on screen, so stillness looks still
  const mid = (hi + lo) / 2;
  lo = mid - span / 2 - 1; hi = mid + span / 2 + 1;
  // the axis ends at the stream's time now (it moves between packets), or at the latest sample
  const end = Math.max(p.t[n - 1], p.now || 0);
  const px = (t) => ((t - (end - traceSeconds)) / traceSeconds) * w;
  const py = (v) => h - ((v - lo) / (hi - lo)) * h;
  ctx.lineWidth = 1 * ratio;
  ctx.strokeStyle = "#e3e6ea";
  ctx.fillStyle = "#6b7482";
  ctx.font = `${10 * ratio}px system-ui, sans-serif`;
  for (const v of [-9.81, 0, 9.81]) { // gravity lines: where a still arm's axes sit
    if (v < lo || v > hi) continue;
    ctx.beginPath(); ctx.moveTo(0, py(v)); ctx.lineTo(w, py(v)); ctx.stroke();
    ctx.fillText(v === 0 ? "0" : (v > 0 ? "+g" : "-g"), 3 * ratio, py(v) - 2 * ratio);
  }
  const series = [["x", p.x], ["y", p.y], ["z", p.z], ["m", mag]];
  for (const [key, values] of series) {
    ctx.strokeStyle = COLORS[key];
    ctx.lineWidth = (key === "m" ? 2 : 1.2) * ratio;
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      const gap = i > 0 && p.t[i] - p.t[i - 1] > 0.5; // a gap in the stream stays a gap on screen
      if (i === 0 || gap) ctx.moveTo(px(p.t[i]), py(values[i])); else ctx.lineTo(px(p.t[i]), py(values[i]));
    }
    ctx.stroke();
  }
  p.draws += 1;
  p.el.dataset.draws = String(p.draws);
}

function showPrediction(p, pred) {
  if (!pred) return;
  $(p.el, ".label").textContent = pred.label;
  $(p.el, ".conf").textContent = fmt(100 * pred.confidence, 0, " %");
  $(p.el, ".text").textContent = pred.text || "";
  $(p.el, ".text").title = pred.text || "";
  const list = $(p.el, ".top3");
  list.replaceChildren(...pred.top.map(([label, prob]) => {
    const li = document.createElement("li");
    li.textContent = `${label} ${fmt(100 * prob, 0, " %")}`;
    return li;
  }));
  if (p.label !== null && pred.label !== p.label) {
    p.labelChanges += 1;
    p.el.dataset.labelChanges = String(p.labelChanges);
  }
  p.label = pred.label;
  p.el.dataset.label = pred.label;
}

function showSession(p, s) {
  if (!s) { $(p.el, ".status").textContent = "no set tracking"; return; }
  const inSet = s.set_number !== null && s.set_number !== undefined;
  const reps = inSet ? s.repetitions : 0;
  $(p.el, ".reps").textContent = String(reps);
  p.repsMax = Math.max(p.repsMax, reps);
  p.el.dataset.reps = String(reps);
  p.el.dataset.repsMax = String(p.repsMax);
  p.el.dataset.status = s.status;
  // a set is open (set_number given), or the wearer rests: still, moving without a trained exercise, or
  // already exercising for fewer windows than open a set
  let text;
  if (inSet) text = `set ${s.set_number} · ${s.exercise} · ${clock(s.set_elapsed_s)}`;
  else if (s.status === "unknown") text = `moving, not an exercise · rest ${clock(s.rest_s)}`;
  else if (s.status === "exercise") text = `a set is starting · rest ${clock(s.rest_s)}`;
  else text = `rest ${clock(s.rest_s)}`;
  $(p.el, ".status").textContent = text;
}

function showStats(p, watch) {
  const s = watch.stats || {};
  $(p.el, ".rate").textContent = fmt(s.rate_hz, 1, " Hz");
  $(p.el, ".loss").textContent = s.loss === undefined ? "–" : `${fmt(100 * s.loss, 2, " %")} (${s.missing} missing)`;
  $(p.el, ".reconnects").textContent = s.reconnects === undefined ? "–" : String(s.reconnects);
  $(p.el, ".latency").textContent = fmt(s.latency_ms, 0, " ms");
  const badge = $(p.el, ".badge.link");
  const state = watch.ended ? "ended" : s.connected === false ? "reconnecting" : s.connected ? "streaming" : "";
  badge.dataset.state = state;
  badge.textContent = state;
}

function showLog(p, log) {
  const rows = [];
  let previousEnd = null;
  for (const e of log) {
    const tr = document.createElement("tr");
    if (e.open) tr.className = "open";
    const cells = [String(e.number), e.exercise, clock(e.start_s), clock(e.end_s - e.start_s), String(e.repetitions),
      previousEnd === null ? "–" : clock(e.start_s - previousEnd)];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    rows.push(tr);
    previousEnd = e.end_s;
  }
  $(p.el, "table.log tbody").replaceChildren(...rows);
}

function apply(frame) {
  if (frame.type !== "frame") return;
  traceSeconds = frame.trace_s || traceSeconds;
  for (const watch of frame.watches) {
    const p = panelFor(watch);
    p.now = watch.now_s;
    takeTrace(p, watch.trace);
    draw(p);
    showPrediction(p, watch.prediction);
    showSession(p, watch.session);
    showStats(p, watch);
    showLog(p, watch.log || []);
  }
  frames += 1;
  const now = performance.now();
  arrivals.push(now);
  while (arrivals.length && arrivals[0] < now - 2000) arrivals.shift();
  const fps = arrivals.length / 2;
  document.body.dataset.frames = String(frames);
  document.body.dataset.fps = fps.toFixed(1);
  document.getElementById("fps").textContent = `${fps.toFixed(0)} updates/s`;
}

function setConn(state, text) {
  const el = document.getElementById("conn");
  el.dataset.state = state;
  el.textContent = text;
}

let retryMs = 500;
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => { retryMs = 500; setConn("live", "live"); };
  ws.onmessage = (event) => { apply(JSON.parse(event.data)); };
  ws.onclose = () => {
    // the server ended (the run is over) or the link dropped: keep the last state, try again
    setConn("closed", "disconnected, retrying");
    setTimeout(connect, retryMs);
    retryMs = Math.min(5000, retryMs * 2);
  };
}

window.addEventListener("resize", () => { for (const p of panels.values()) draw(p); });
connect();
