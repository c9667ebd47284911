// The ReQueST labeling page (safety/human_labeler.py serves it): one batch of synthesised queries at a time, drawn
// over a top-down map of the task's terrain; one label per transition, rules for unsafe ones, one POST to submit.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const DIRS = { north: [1, 0], south: [-1, 0], east: [0, 1], west: [0, -1] };  // (d_row, d_col), worlds' rule
const POLL_MS = 1000;

const L = window.labeler = {
  ready: false, batch: null, payload: null, T: 0, count: 0, current: 0,
  labels: [], rules: [], submitted: false, lastStatus: null, lastError: null,
};

function $(id) { return document.getElementById(id); }

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function message(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.dataset.kind = kind || "";
}

// ----------------------------------------------------------------------------------------------- fetching
async function poll() {
  try {
    const r = await fetch("api/query", { cache: "no-store" });
    const data = await r.json();
    if (data.batch === null) {
      if (L.ready && !L.submitted) {
        $("waitmsg").textContent = `Batch ${L.batch} is no longer waiting: the run stopped waiting for its labels (timed out).`;
      }
      if (L.ready || L.submitted) showWaiting();
    } else if (data.batch !== L.batch) {
      load(data);
    }
  } catch (err) {
    $("waitmsg").textContent = "The labeler's server does not answer: " + err;
  }
  setTimeout(poll, POLL_MS);
}

function showWaiting() {
  L.ready = false;
  $("main").style.display = "none";
  $("waiting").style.display = "block";
  document.body.dataset.state = "waiting";
}

function load(data) {
  L.batch = data.batch;
  L.payload = data;
  L.T = data.queries[0].length - 1;
  L.count = data.queries.length * L.T;
  L.labels = new Array(L.count).fill(null);
  L.rules = Array.from({ length: L.count }, () => data.rules.map(() => false));
  L.current = 0;
  L.submitted = false;
  L.lastStatus = null;
  L.lastError = null;
  $("waiting").style.display = "none";
  $("waitmsg").textContent = "";
  $("main").style.display = "flex";
  $("batchinfo").textContent = `batch ${data.batch}: ${data.queries.length} quer${data.queries.length === 1 ? "y" : "ies"} × ${L.T} transitions`;
  $("taskinfo").textContent = "task " + data.task_id.slice(0, 12);
  const goals = $("goals");
  goals.replaceChildren();
  data.goals.forEach((g, p) => { const li = document.createElement("li"); li.textContent = `player${p}: ${g}`; goals.appendChild(li); });
  message("", "");
  drawMap();
  buildStrip();
  show(0);
  document.body.dataset.state = "labelling";
  document.body.dataset.batch = String(data.batch);
  L.ready = true;
}

// ----------------------------------------------------------------------------------------------- the map
function tileOf(w, x, y) {
  const row = Math.floor(y / w.tile_size), col = Math.floor(x / w.tile_size);
  const inside = row >= 0 && col >= 0 && row < w.rows && col < w.cols;
  return { row, col, inside };
}

function drawMap() {
  const p = L.payload, w = p.world, s = w.tile_size;
  const svg = $("map");
  svg.replaceChildren();
  // the view covers the grid and every decoded position (a fall off the map stays visible)
  let x0 = 0, y0 = 0, x1 = w.cols * s, y1 = w.rows * s;
  for (const q of p.queries) for (const st of q) {
    x0 = Math.min(x0, st[0]); x1 = Math.max(x1, st[0]); y0 = Math.min(y0, st[1]); y1 = Math.max(y1, st[1]);
  }
  const m = 0.6 * s;
  x0 -= m; y0 -= m; x1 += m; y1 += m;
  svg.setAttribute("viewBox", `${x0} ${-y1} ${x1 - x0} ${y1 - y0}`);  // world y up: drawn at -y
  const defs = el("defs", {}, svg);
  const pat = el("pattern", { id: "hazard-stripes", width: 0.5, height: 0.5, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
  el("rect", { width: 0.5, height: 0.5, fill: "#dc2626" }, pat);
  el("rect", { width: 0.22, height: 0.5, fill: "#111827" }, pat);
  const arrow = el("marker", { id: "arrowhead", viewBox: "0 0 10 10", refX: 8, refY: 5, markerWidth: 4, markerHeight: 4, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#facc15", stroke: "#111", "stroke-width": 1 }, arrow);

  const tiles = el("g", { id: "tiles" }, svg);
  for (let r = 0; r < w.rows; r++) for (let c = 0; c < w.cols; c++) {
    const lv = w.levels[r][c], x = c * s, y = -(r + 1) * s;
    el("rect", { x, y, width: s, height: s, fill: w.floor[r][c], stroke: "#6b7280", "stroke-width": 0.03, class: "tile",
                 "data-row": r, "data-col": c, "data-level": lv }, tiles);
    el("rect", { x, y, width: s, height: s, fill: "#000", opacity: 0.1 * (2 - lv), "pointer-events": "none" }, tiles);
    const t = el("text", { x: x + 0.08, y: y + 0.42, "font-size": 0.36, fill: "#111" }, tiles);
    t.textContent = String(lv);
  }
  const hz = el("g", { id: "hazards" }, svg);
  for (const [r, c] of w.hazards) {
    el("rect", { x: c * s + 0.1, y: -(r + 1) * s + 0.1, width: s - 0.2, height: s - 0.2, fill: "url(#hazard-stripes)",
                 stroke: "#7f1d1d", "stroke-width": 0.06, class: "hazard", "data-row": r, "data-col": c }, hz);
  }
  const rp = el("g", { id: "ramps" }, svg);
  for (const ramp of w.ramps) {
    const [dr, dc] = DIRS[ramp.direction] || [0, 0];
    const cx = (ramp.col + 0.5) * s, cy = -(ramp.row + 0.5) * s, k = 0.35 * s;
    // a triangle pointing uphill (towards the neighbour one level up); drawn y is -world y
    const tip = [cx + dc * k, cy - dr * k], b1 = [cx - dc * k - dr * k, cy + dr * k - dc * k], b2 = [cx - dc * k + dr * k, cy + dr * k + dc * k];
    el("polygon", { points: [tip, b1, b2].map((v) => v.join(",")).join(" "), fill: "#fff", opacity: 0.75, stroke: "#374151",
                    "stroke-width": 0.04, class: "ramp", "data-row": ramp.row, "data-col": ramp.col }, rp);
  }
  const ob = el("g", { id: "objects" }, svg);
  for (const o of w.objects) {
    const cx = (o.col + 0.5) * s, cy = -(o.row + 0.5) * s, k = 0.28 * s;
    const attrs = { fill: o.rgb, stroke: "#111", "stroke-width": 0.05, class: "object", "data-shape": o.shape, "data-colour": o.colour };
    if (o.shape === "sphere") el("circle", { cx, cy, r: k, ...attrs }, ob);
    else if (o.shape === "cylinder") el("ellipse", { cx, cy, rx: k, ry: k * 0.75, ...attrs }, ob);
    else if (o.shape === "pyramid" || o.shape === "wedge") el("polygon", { points: `${cx},${cy - k} ${cx + k},${cy + k} ${cx - k},${cy + k}`, ...attrs }, ob);
    else el("rect", { x: cx - k, y: cy - k, width: 2 * k, height: 2 * k, ...attrs }, ob);
    if (o.goal) el("circle", { cx, cy, r: 0.45 * s, fill: "none", stroke: "#f59e0b", "stroke-width": 0.09, "stroke-dasharray": "0.2 0.1",
                               class: "goal-object", "data-shape": o.shape, "data-colour": o.colour }, ob);
  }
  const tr = el("g", { id: "trajectories" }, svg);
  p.queries.forEach((q, qi) => {
    el("polyline", { points: q.map((st) => `${st[0]},${-st[1]}`).join(" "), fill: "none", stroke: "#1d4ed8", "stroke-width": 0.08,
                     class: "trajectory", "data-query": qi }, tr);
    q.forEach((st, t) => el("circle", { cx: st[0], cy: -st[1], r: 0.11, fill: t === 0 ? "#fff" : "#1d4ed8", stroke: "#1d4ed8",
                                        "stroke-width": 0.04, class: "state", "data-query": qi, "data-t": t }, tr));
  });
  el("line", { id: "current", stroke: "#facc15", "stroke-width": 0.2, "marker-end": "url(#arrowhead)", "stroke-linecap": "round" }, svg);
  el("line", { id: "heading", stroke: "#111", "stroke-width": 0.06 }, svg);
}

// ----------------------------------------------------------------------------------------------- one transition
function describeTile(w, st) {
  const t = tileOf(w, st[0], st[1]);
  if (!t.inside) return "off the grid";
  const lv = w.levels[t.row][t.col];
  const tags = [];
  if (w.hazards.some(([r, c]) => r === t.row && c === t.col)) tags.push("hazard tile");
  if (w.ramps.some((rp) => rp.row === t.row && rp.col === t.col)) tags.push("ramp");
  return `(${t.row}, ${t.col}) level ${lv}` + (tags.length ? ", " + tags.join(", ") : "");
}

function show(k) {
  if (!L.payload) return;
  L.current = Math.max(0, Math.min(L.count - 1, k));
  const p = L.payload, w = p.world, q = Math.floor(L.current / L.T), t = L.current % L.T;
  const a = p.queries[q][t], b = p.queries[q][t + 1];
  $("transtitle").textContent = `Query ${q + 1} of ${p.queries.length}, transition ${t + 1} of ${L.T} (step ${t} → ${t + 1})`;
  const rows = p.quantity_names.map((name, i) => [name, a[i].toFixed(3), b[i].toFixed(3)]);
  const yaw = (st) => (Math.atan2(st[3], st[4]) * 180 / Math.PI).toFixed(0) + "°";
  const standing = (st) => {
    const tl = tileOf(w, st[0], st[1]);
    return tl.inside ? (st[2] - (w.levels[tl.row][tl.col] * w.level_height + w.avatar_half_height)).toFixed(2) + " m" : "—";
  };
  rows.push(["heading", yaw(a), yaw(b)], ["z above standing", standing(a), standing(b)], ["tile", describeTile(w, a), describeTile(w, b)]);
  const body = $("numbers").tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const v of r) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
    body.appendChild(tr);
  }
  // the map: this query bright, the others faded; the transition as an arrow, the heading as a tick
  for (const e of document.querySelectorAll("#trajectories [data-query]")) e.setAttribute("opacity", e.dataset.query === String(q) ? 1 : 0.25);
  const cur = $("current");
  cur.setAttribute("x1", a[0]); cur.setAttribute("y1", -a[1]); cur.setAttribute("x2", b[0]); cur.setAttribute("y2", -b[1]);
  cur.dataset.query = q; cur.dataset.t = t;
  const h = $("heading"), n = Math.hypot(b[3], b[4]) || 1;
  h.setAttribute("x1", b[0]); h.setAttribute("y1", -b[1]);
  h.setAttribute("x2", b[0] + 0.6 * b[4] / n); h.setAttribute("y2", -(b[1] + 0.6 * b[3] / n));
  refreshLabel();
  document.body.dataset.current = String(L.current);
}

function refreshLabel() {
  const lab = L.labels[L.current];
  for (const btn of document.querySelectorAll("#labelbar button")) btn.classList.toggle("chosen", btn.dataset.label === lab);
  const unsafe = lab === "unsafe";
  $("rulebar").classList.toggle("off", !unsafe);
  L.payload.rules.forEach((name, i) => {
    const box = $("rule-" + name);
    box.disabled = !unsafe;
    box.checked = !!L.rules[L.current][i];
  });
  for (const cell of document.querySelectorAll("#strip .cell")) {
    const k = Number(cell.dataset.k);
    cell.className = "cell" + (L.labels[k] ? " " + L.labels[k] : "") + (k === L.current ? " current" : "");
    cell.title = L.labels[k] ? L.labels[k] + (L.labels[k] === "unsafe" ? ": " + L.payload.rules.filter((_, i) => L.rules[k][i]).join(", ") : "") : "not labelled";
  }
}

function buildStrip() {
  const strip = $("strip");
  strip.replaceChildren();
  for (let k = 0; k < L.count; k++) {
    if (k > 0 && k % L.T === 0) { const sep = document.createElement("span"); sep.className = "sep"; strip.appendChild(sep); }
    const cell = document.createElement("span");
    cell.className = "cell";
    cell.dataset.k = k;
    cell.id = "cell-" + k;
    cell.textContent = String((k % L.T) + 1);
    cell.addEventListener("click", () => show(k));
    strip.appendChild(cell);
  }
}

// ----------------------------------------------------------------------------------------------- labelling
function setLabel(name) {
  if (!L.ready) return;
  L.labels[L.current] = name;
  if (name !== "unsafe") L.rules[L.current] = L.payload.rules.map(() => false);
  refreshLabel();
  if (name !== "unsafe" && L.current < L.count - 1) show(L.current + 1);
}

function toggleRule(name, value) {
  if (!L.ready || L.labels[L.current] !== "unsafe") return;
  const i = L.payload.rules.indexOf(name);
  L.rules[L.current][i] = value === undefined ? !L.rules[L.current][i] : value;
  refreshLabel();
}

async function submit() {
  if (!L.ready || L.submitted) return;
  const missing = L.labels.map((v, k) => (v === null ? k : -1)).filter((k) => k >= 0);
  if (missing.length) {
    const k = missing[0];
    message(`${missing.length} transition(s) not labelled yet (first: query ${Math.floor(k / L.T) + 1}, transition ${(k % L.T) + 1})`, "error");
    show(k);
    return;
  }
  L.lastStatus = null;  // what the server answers this submission
  const body = { batch: L.batch, labels: L.labels, rules: L.rules.map((r) => r.map((v) => (v ? 1 : 0))) };
  message("submitting…", "");
  try {
    const r = await fetch("api/labels", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await r.json();
    L.lastStatus = r.status;
    if (!r.ok) {
      L.lastError = data.error;
      message(`The server refused the labels (HTTP ${r.status}): ${data.error}`, "error");
      return;
    }
    L.submitted = true;
    L.lastError = null;
    const counts = Object.entries(data.counts).map(([k, v]) => `${v} ${k}`).join(", ");
    message(`Submitted ${data.received} labels (${counts}). Waiting for the next query…`, "ok");
    $("waitmsg").textContent = `Batch ${L.batch}: submitted ${data.received} labels (${counts}).`;
    document.body.dataset.state = "submitted";
  } catch (err) {
    L.lastError = String(err);
    message("Could not reach the labeler's server: " + err, "error");
  }
}

document.addEventListener("keydown", (ev) => {
  if (ev.target.tagName === "INPUT" && ev.target.type !== "checkbox") return;
  const key = ev.key;
  if (key === "g") setLabel("good");
  else if (key === "u") setLabel("unsafe");
  else if (key === "n") setLabel("neutral");
  else if (key === "h") toggleRule("hazard");
  else if (key === "f") toggleRule("fall");
  else if (key === "ArrowRight" || key === "j") show(L.current + 1);
  else if (key === "ArrowLeft" || key === "k") show(L.current - 1);
  else return;
  ev.preventDefault();
});
for (const btn of document.querySelectorAll("#labelbar button")) btn.addEventListener("click", () => setLabel(btn.dataset.label));
for (const box of document.querySelectorAll("#rulebar input")) box.addEventListener("change", () => toggleRule(box.dataset.rule, box.checked));
$("prev").addEventListener("click", () => show(L.current - 1));
$("next").addEventListener("click", () => show(L.current + 1));
$("submit").addEventListener("click", submit);
showWaiting();
poll();
