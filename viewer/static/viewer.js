// openland replay viewer: draws an episode's world with plain WebGL (no library) in a perspective view and a
// top-down view, and plays its recorded poses over a timeline. The server (viewer/server.py) sends the world's
// geometry as the simulator loaded it and the per-step arrays as recorded (viewer/scene.py).
//
// Top-down view convention (tests rely on it): an orthographic camera looking down -z, +x to the right and +y
// up, centred on the grid, at SCALE = min(w / (W + 2 M), h / (H + 2 M)) pixels per metre, where W x H metres is
// the grid and M = TOPDOWN_MARGIN; world (x, y) is drawn at pixel (w/2 + (x - W/2) SCALE, h/2 - (y - H/2) SCALE).
// It is drawn unlit, so each surface shows its exact colour.
"use strict";

const TOPDOWN_MARGIN = 1.0;

// ------------------------------------------------------------------------------------------- small math
function mat4Mul(a, b) {  // column-major 4x4: a * b
  const o = new Float32Array(16);
  for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
    let s = 0;
    for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
    o[c * 4 + r] = s;
  }
  return o;
}
function perspective(fovy, aspect, near, far) {
  const f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
  return new Float32Array([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0]);
}
function ortho(l, r, b, t, n, f) {
  return new Float32Array([2 / (r - l), 0, 0, 0, 0, 2 / (t - b), 0, 0, 0, 0, -2 / (f - n), 0,
    -(r + l) / (r - l), -(t + b) / (t - b), -(f + n) / (f - n), 1]);
}
function lookAt(eye, target, up) {
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const norm = (a) => { const l = Math.hypot(a[0], a[1], a[2]) || 1; return [a[0] / l, a[1] / l, a[2] / l]; };
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const z = norm(sub(eye, target)), x = norm(cross(up, z)), y = cross(z, x);
  return new Float32Array([x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0,
    -dot(x, eye), -dot(y, eye), -dot(z, eye), 1]);
}
function quatMat(q) {  // (w, x, y, z) -> 3x3 row-major
  const [w, x, y, z] = q;
  return [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)];
}
function poseMat(pos, q) {  // column-major rigid transform
  const m = quatMat(q);
  return new Float32Array([m[0], m[3], m[6], 0, m[1], m[4], m[7], 0, m[2], m[5], m[8], 0, pos[0], pos[1], pos[2], 1]);
}

// ------------------------------------------------------------------------------------------- geometry
// Each builder returns triangles as flat [x, y, z, ...] positions and normals in the geom's own frame.
function boxTris(hx, hy, hz) {
  const P = [], N = [];
  const faces = [[0, 1], [0, -1], [1, 1], [1, -1], [2, 1], [2, -1]];
  const h = [hx, hy, hz];
  for (const [axis, sgn] of faces) {
    const u = (axis + 1) % 3, v = (axis + 2) % 3;
    const corner = (a, b) => { const p = [0, 0, 0]; p[axis] = sgn * h[axis]; p[u] = a * h[u]; p[v] = b * h[v]; return p; };
    const quad = [corner(-1, -1), corner(1, -1), corner(1, 1), corner(-1, -1), corner(1, 1), corner(-1, 1)];
    const n = [0, 0, 0]; n[axis] = sgn;
    for (const p of quad) { P.push(...p); N.push(...n); }
  }
  return { P, N };
}
function revolveTris(profile, seg) {  // profile: [[radius, z, nr, nz], ...] from bottom to top
  const P = [], N = [];
  for (let i = 0; i < seg; i++) {
    const a0 = (i / seg) * 2 * Math.PI, a1 = ((i + 1) / seg) * 2 * Math.PI;
    for (let j = 0; j + 1 < profile.length; j++) {
      const [r0, z0, nr0, nz0] = profile[j], [r1, z1, nr1, nz1] = profile[j + 1];
      const pt = (r, z, a) => [r * Math.cos(a), r * Math.sin(a), z];
      const nm = (nr, nz, a) => [nr * Math.cos(a), nr * Math.sin(a), nz];
      const quad = [[r0, z0, nr0, nz0, a0], [r0, z0, nr0, nz0, a1], [r1, z1, nr1, nz1, a1],
        [r0, z0, nr0, nz0, a0], [r1, z1, nr1, nz1, a1], [r1, z1, nr1, nz1, a0]];
      for (const [r, z, nr, nz, a] of quad) { P.push(...pt(r, z, a)); N.push(...nm(nr, nz, a)); }
    }
  }
  return { P, N };
}
function sphereProfile(r, zc, from, to, n) {  // arc of a sphere of radius r centred at z = zc, polar angles
  const out = [];
  for (let i = 0; i <= n; i++) {
    const t = from + (to - from) * (i / n);
    out.push([r * Math.sin(t), zc - r * Math.cos(t), Math.sin(t), -Math.cos(t)]);
  }
  return out;
}
function geomTris(g, meshes) {
  const s = g.size;
  if (g.type === "box") return boxTris(s[0], s[1], s[2]);
  if (g.type === "sphere") return revolveTris(sphereProfile(s[0], 0, 0, Math.PI, 10), 20);
  if (g.type === "cylinder") {
    const r = s[0], h = s[1];
    return revolveTris([[0, -h, 0, -1], [r, -h, 0, -1], [r, -h, 1, 0], [r, h, 1, 0], [r, h, 0, 1], [0, h, 0, 1]], 24);
  }
  if (g.type === "capsule") {
    const r = s[0], h = s[1];
    const prof = sphereProfile(r, -h, 0, Math.PI / 2, 6).concat(sphereProfile(r, h, Math.PI / 2, Math.PI, 6));
    return revolveTris(prof, 20);
  }
  if (g.type === "mesh") {
    const m = meshes[g.mesh], V = m.vertices, F = m.faces, P = [], N = [];
    for (let f = 0; f < F.length; f += 3) {
      const a = F[f] * 3, b = F[f + 1] * 3, c = F[f + 2] * 3;
      const pa = [V[a], V[a + 1], V[a + 2]], pb = [V[b], V[b + 1], V[b + 2]], pc = [V[c], V[c + 1], V[c + 2]];
      const u = [pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]], v = [pc[0] - pa[0], pc[1] - pa[1], pc[2] - pa[2]];
      const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
      const l = Math.hypot(n[0], n[1], n[2]) || 1;
      for (const p of [pa, pb, pc]) { P.push(...p); N.push(n[0] / l, n[1] / l, n[2] / l); }
    }
    return { P, N };
  }
  throw new Error("unknown geom type " + g.type);
}
// Append geom g, placed by its frame (pos, quat), to the arrays of one buffer.
function appendGeom(out, g, meshes, rgba) {
  const { P, N } = geomTris(g, meshes);
  const m = quatMat(g.quat), c = rgba || g.rgba;
  for (let i = 0; i < P.length; i += 3) {
    const x = P[i], y = P[i + 1], z = P[i + 2], nx = N[i], ny = N[i + 1], nz = N[i + 2];
    out.P.push(m[0] * x + m[1] * y + m[2] * z + g.pos[0], m[3] * x + m[4] * y + m[5] * z + g.pos[1],
      m[6] * x + m[7] * y + m[8] * z + g.pos[2]);
    out.N.push(m[0] * nx + m[1] * ny + m[2] * nz, m[3] * nx + m[4] * ny + m[5] * nz, m[6] * nx + m[7] * ny + m[8] * nz);
    out.C.push(c[0], c[1], c[2]);
  }
}

// ------------------------------------------------------------------------------------------- renderer
const VS = `attribute vec3 aPos; attribute vec3 aNormal; attribute vec3 aColour;
uniform mat4 uVP; uniform mat4 uModel; varying vec3 vN; varying vec3 vC;
void main() { gl_Position = uVP * uModel * vec4(aPos, 1.0); vN = mat3(uModel) * aNormal; vC = aColour; }`;
const FS = `precision mediump float; varying vec3 vN; varying vec3 vC; uniform float uFlat;
void main() {
  vec3 n = normalize(vN);
  float d = abs(dot(n, normalize(vec3(-0.35, -0.25, 1.0)))) * 0.65 + abs(dot(n, normalize(vec3(0.4, 0.5, 0.6)))) * 0.15;
  float light = mix(0.35 + d, 1.0, uFlat);
  gl_FragColor = vec4(vC * light, 1.0);
}`;

class Renderer {
  constructor(canvas, antialias) {
    const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias });
    if (!gl) throw new Error("WebGL is not available in this browser");
    this.gl = gl;
    const sh = (type, src) => {
      const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const prog = gl.createProgram();
    gl.attachShader(prog, sh(gl.VERTEX_SHADER, VS)); gl.attachShader(prog, sh(gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    this.prog = prog;
    this.loc = { pos: gl.getAttribLocation(prog, "aPos"), normal: gl.getAttribLocation(prog, "aNormal"),
      colour: gl.getAttribLocation(prog, "aColour"), vp: gl.getUniformLocation(prog, "uVP"),
      model: gl.getUniformLocation(prog, "uModel"), flat: gl.getUniformLocation(prog, "uFlat") };
    gl.enable(gl.DEPTH_TEST);
  }
  buffer(arrays) {
    const gl = this.gl, mk = (data) => {
      const b = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, b);
      gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(data), gl.STATIC_DRAW); return b;
    };
    return { pos: mk(arrays.P), normal: mk(arrays.N), colour: mk(arrays.C), count: arrays.P.length / 3 };
  }
  begin(vp, flat, clear) {
    const gl = this.gl;
    gl.viewport(0, 0, gl.drawingBufferWidth, gl.drawingBufferHeight);
    gl.clearColor(clear[0], clear[1], clear[2], 1); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.useProgram(this.prog);
    gl.uniformMatrix4fv(this.loc.vp, false, vp); gl.uniform1f(this.loc.flat, flat ? 1 : 0);
  }
  draw(buf, model) {
    const gl = this.gl, L = this.loc;
    for (const [name, loc] of [["pos", L.pos], ["normal", L.normal], ["colour", L.colour]]) {
      gl.bindBuffer(gl.ARRAY_BUFFER, buf[name]); gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
    }
    gl.uniformMatrix4fv(L.model, false, model);
    gl.drawArrays(gl.TRIANGLES, 0, buf.count);
  }
}

const IDENTITY = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);

// One canvas's GPU copy of the episode's world.
function uploadWorld(r, world) {
  const empty = () => ({ P: [], N: [], C: [] });
  const stat = empty();
  for (const g of world.static) appendGeom(stat, g, world.meshes);
  // hazard tiles: a red frame just above the floor (the simulator paints hazards like any floor of their colour)
  const ts = world.tile_size, bar = 0.08;
  for (const h of world.hazards) {
    for (const [dx, dy, hx, hy] of [[0, ts / 2 - bar, ts / 2, bar], [0, -ts / 2 + bar, ts / 2, bar],
      [ts / 2 - bar, 0, bar, ts / 2], [-ts / 2 + bar, 0, bar, ts / 2]]) {
      appendGeom(stat, { type: "box", size: [hx, hy, 0.02], pos: [h.x + dx, h.y + dy, h.z + 0.02], quat: [1, 0, 0, 0] },
        world.meshes, [0.8, 0.05, 0.05]);
    }
  }
  const objects = world.objects.map((o) => { const b = empty(); for (const g of o.geoms) appendGeom(b, g, world.meshes); return r.buffer(b); });
  const avatars = world.avatars.map((a) => { const b = empty(); for (const g of a.geoms) appendGeom(b, g, world.meshes); return r.buffer(b); });
  const marker = empty();
  appendGeom(marker, { type: "sphere", size: [0.18, 0, 0], pos: [0, 0, 0], quat: [1, 0, 0, 0] }, world.meshes, [0.9, 0.05, 0.05]);
  return { stat: r.buffer(stat), objects, avatars, marker: r.buffer(marker) };
}

// ------------------------------------------------------------------------------------------- the page
const $ = (id) => document.getElementById(id);
const V = {
  ready: false, step: 0, numSteps: 0, ttiMs: null, payload: null, playing: false, speed: 1,
  cam: { az: -60 * Math.PI / 180, el: 48 * Math.PI / 180, dist: 30 },
};
window.viewer = V;

function showError(message) {
  $("main").style.display = "none";
  $("error").style.display = "block";
  $("errormsg").textContent = message;
  document.body.dataset.error = "1";
  V.ready = true;
}

function drawScene(r, gpu, vp, flat, step, markers) {
  const p = V.payload, s = p.steps;
  r.begin(vp, flat, flat ? [0.86, 0.9, 0.96] : [0.72, 0.82, 0.95]);
  r.draw(gpu.stat, IDENTITY);
  p.world.objects.forEach((o, i) => r.draw(gpu.objects[i], poseMat(s.object_pos[step][i], s.object_quat[step][i])));
  for (let i = 0; i < p.num_players; i++) {
    const pos = s.player_pos[step][i], yaw = s.player_yaw[step][i];
    r.draw(gpu.avatars[i], poseMat(pos, [Math.cos(yaw / 2), 0, 0, Math.sin(yaw / 2)]));
    if (markers && s.unsafe[step][i]) r.draw(gpu.marker, poseMat([pos[0], pos[1], pos[2] + 1.0], [1, 0, 0, 0]));
  }
}

function topdownScale(canvas) {
  const w = V.payload.world, W = w.cols * w.tile_size, H = w.rows * w.tile_size;
  return Math.min(canvas.width / (W + 2 * TOPDOWN_MARGIN), canvas.height / (H + 2 * TOPDOWN_MARGIN));
}
V.topdownPixel = (x, y) => {  // where world (x, y) is drawn in the top-down canvas (CSS pixels = canvas pixels)
  const c = $("topdown"), w = V.payload.world, k = topdownScale(c);
  return [c.width / 2 + (x - w.cols * w.tile_size / 2) * k, c.height / 2 - (y - w.rows * w.tile_size / 2) * k];
};

function render() {
  const p = V.payload, w = p.world, W = w.cols * w.tile_size, H = w.rows * w.tile_size;
  const c3 = $("view3d"), cam = V.cam, target = [W / 2, H / 2, w.level_height];
  const eye = [target[0] + cam.dist * Math.cos(cam.el) * Math.cos(cam.az), target[1] + cam.dist * Math.cos(cam.el) * Math.sin(cam.az),
    target[2] + cam.dist * Math.sin(cam.el)];
  const vp3 = mat4Mul(perspective(45 * Math.PI / 180, c3.width / c3.height, 0.1, 500), lookAt(eye, target, [0, 0, 1]));
  drawScene(V.r3, V.gpu3, vp3, false, V.step, true);
  const ct = $("topdown"), k = topdownScale(ct), hx = ct.width / (2 * k), hy = ct.height / (2 * k);
  const vpt = mat4Mul(ortho(-hx, hx, -hy, hy, 1, 200), lookAt([W / 2, H / 2, 100], [W / 2, H / 2, 0], [0, 1, 0]));
  drawScene(V.rt, V.gput, vpt, true, V.step, false);
}

function buildPlayers() {
  const p = V.payload, box = $("players");
  box.innerHTML = "";
  p.goals.forEach((goal, i) => {
    const div = document.createElement("div");
    div.className = "player"; div.id = `player-${i}`;
    const c = p.world.avatars[i].colour.map((v) => Math.round(v * 255));
    const head = document.createElement("div");
    head.innerHTML = `<span class="swatch" style="background: rgb(${c.join(",")})"></span> <b>player${i}</b>
      reward <span id="reward-${i}"></span>, return so far <span id="return-${i}"></span> of ${p.returns[i]}
      <span id="unsafe-${i}" class="unsafe"></span>`;
    div.appendChild(head);
    const text = document.createElement("div");
    text.className = "goal"; text.id = `goal-${i}`; text.textContent = "goal: " + goal.text;
    div.appendChild(text);
    goal.options.forEach((opt, o) => {
      const od = document.createElement("div");
      od.className = "option"; od.id = `option-${i}-${o}`;
      od.appendChild(document.createTextNode(o ? "or " : ""));
      opt.forEach((pred, k) => {
        const sp = document.createElement("span");
        sp.className = "pred"; sp.id = `pred-${i}-${o}-${k}`; sp.dataset.text = pred;
        od.appendChild(sp);
        if (k + 1 < opt.length) od.appendChild(document.createTextNode(" and "));
      });
      div.appendChild(od);
    });
    box.appendChild(div);
  });
}

function updatePanel() {
  const p = V.payload, s = p.steps, t = V.step;
  p.goals.forEach((goal, i) => {
    let ret = 0;
    for (let u = 0; u <= t; u++) ret += s.rewards[u][i];
    $(`reward-${i}`).textContent = s.rewards[t][i].toFixed(2);
    $(`return-${i}`).textContent = ret.toFixed(2);
    $(`unsafe-${i}`).textContent = s.unsafe[t][i] ? "UNSAFE" : "";
    goal.options.forEach((opt, o) => {
      let all = true;
      opt.forEach((pred, k) => {
        const v = s.truth[i][o][t][k], el = $(`pred-${i}-${o}-${k}`);
        all = all && !!v;
        el.className = "pred " + (v ? "true" : "false"); el.dataset.truth = v ? "1" : "0";
        el.textContent = (v ? "\u2713 " : "\u2717 ") + pred;
      });
      $(`option-${i}-${o}`).classList.toggle("holds", all);
    });
  });
}

function drawTimeline() {
  const c = $("timeline"), g = c.getContext("2d"), p = V.payload, s = p.steps, T = p.num_steps;
  g.clearRect(0, 0, c.width, c.height);
  const x = (t) => (t + 0.5) * c.width / T;
  for (let t = 0; t < T; t++) {
    if (s.unsafe[t].some((v) => v)) { g.fillStyle = "#dc2626"; g.fillRect(x(t) - 1, 2, 2, 14); }
    if (s.rewards[t].some((v) => v > 0)) { g.fillStyle = "#16a34a"; g.fillRect(x(t) - 1, 20, 2, 14); }
  }
  g.fillStyle = "#111"; g.fillRect(x(V.step) - 1, 0, 2, c.height);
}

function setStep(t) {
  if (!V.payload) return;
  V.step = Math.max(0, Math.min(V.numSteps - 1, Math.round(Number(t) || 0)));
  $("slider").value = V.step; $("stepinput").value = V.step;
  $("stepcount").textContent = `/ ${V.numSteps - 1} (t = ${(V.step * V.payload.control_dt).toFixed(1)} s)`;
  render(); updatePanel(); drawTimeline();
  document.body.dataset.step = String(V.step);
}
V.setStep = setStep;

async function loadEpisode(path) {
  V.ready = false; V.playing = false; $("play").textContent = "play";
  delete document.body.dataset.step;
  const res = await fetch("api/episode?path=" + encodeURIComponent(path));
  const body = await res.json().catch(() => ({ error: `server answered ${res.status} without a message` }));
  if (!res.ok) { showError(body.error || `server answered ${res.status}`); return; }
  $("main").style.display = ""; $("error").style.display = "none"; delete document.body.dataset.error;
  V.payload = body; V.numSteps = body.num_steps; V.path = path;
  const w = body.world;
  V.cam.dist = 1.45 * Math.max(w.cols, w.rows) * w.tile_size;
  V.gpu3 = uploadWorld(V.r3, w); V.gput = uploadWorld(V.rt, w);
  $("slider").max = V.numSteps - 1; $("stepinput").max = V.numSteps - 1;
  $("taskinfo").textContent = `task ${body.task_id.slice(0, 12)} \u00b7 ${body.game_kind} \u00b7 ${body.num_players} players \u00b7 ${body.num_steps} steps`;
  buildPlayers();
  setStep(0);
  const url = new URL(window.location); url.searchParams.set("episode", path); history.replaceState(null, "", url);
  if (V.ttiMs === null) V.ttiMs = performance.now();
  V.ready = true; document.body.dataset.ready = "1";
}

function play(now) {
  if (!V.playing) return;
  if (V.lastTime !== undefined) {
    V.acc += (now - V.lastTime) / 1000 * V.speed / V.payload.control_dt;
    const adv = Math.floor(V.acc);
    if (adv > 0) {
      V.acc -= adv;
      if (V.step + adv >= V.numSteps - 1) { setStep(V.numSteps - 1); V.playing = false; $("play").textContent = "play"; return; }
      setStep(V.step + adv);
    }
  }
  V.lastTime = now;
  requestAnimationFrame(play);
}
function togglePlay() {
  if (!V.payload) return;
  V.playing = !V.playing; $("play").textContent = V.playing ? "pause" : "play";
  if (V.playing) { if (V.step >= V.numSteps - 1) setStep(0); V.acc = 0; V.lastTime = undefined; requestAnimationFrame(play); }
}

function wireControls() {
  $("play").onclick = togglePlay;
  $("speed").onchange = (e) => { V.speed = Number(e.target.value); };
  $("slider").oninput = (e) => setStep(e.target.value);
  $("stepinput").onchange = (e) => setStep(e.target.value);
  $("timeline").onclick = (e) => {
    const rect = e.target.getBoundingClientRect();
    setStep(Math.floor((e.clientX - rect.left) / rect.width * V.numSteps));
  };
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === " ") { togglePlay(); e.preventDefault(); }
    if (e.key === "ArrowRight") setStep(V.step + 1);
    if (e.key === "ArrowLeft") setStep(V.step - 1);
  });
  const c = $("view3d");
  let drag = null;
  c.onmousedown = (e) => { drag = [e.clientX, e.clientY]; };
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (e) => {
    if (!drag || !V.payload) return;
    V.cam.az -= (e.clientX - drag[0]) * 0.01;
    V.cam.el = Math.max(0.05, Math.min(1.55, V.cam.el + (e.clientY - drag[1]) * 0.01));
    drag = [e.clientX, e.clientY]; render();
  });
  c.addEventListener("wheel", (e) => {
    if (!V.payload) return;
    V.cam.dist = Math.max(3, Math.min(200, V.cam.dist * Math.exp(e.deltaY * 0.001))); render(); e.preventDefault();
  }, { passive: false });
  $("episodes").onchange = (e) => loadEpisode(e.target.value);
}

async function main() {
  try {
    V.r3 = new Renderer($("view3d"), true);
    V.rt = new Renderer($("topdown"), false);
  } catch (err) { showError(String(err)); return; }
  wireControls();
  const res = await fetch("api/episodes");
  const info = await res.json();
  if (!res.ok) { showError(info.error || `server answered ${res.status}`); return; }
  if (info.report) $("reportlink").innerHTML = `<a href="${info.report}">run report</a>`;
  const sel = $("episodes");
  for (const e of info.episodes) {
    const o = document.createElement("option"); o.value = e; o.textContent = e; sel.appendChild(o);
  }
  const wanted = new URL(window.location).searchParams.get("episode");
  const path = wanted !== null ? wanted : info.episodes[0];
  if (path === undefined) { showError(`no episode files (*.npz) under ${info.root}`); return; }
  sel.value = path;
  await loadEpisode(path);
}
main().catch((err) => showError("viewer error: " + err));
