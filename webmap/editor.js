// gridgeo grid editor: a county editor opens a community, moves road-bounded blocks
// between neighbouring grids, merges and renames grids, with undo/redo; counts, the
// profile's band and contiguity are recomputed at once in the page, and the result is
// saved as a draft change set (codes, recounts and the validator: the registry) and filed.
// Every text from the registry is set with textContent; no inline scripts.

const L = window.L;
const $ = (id) => document.getElementById(id);
const PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
  "#a6761d", "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#ffff99"];
const state = {
  code: null, data: null, owner: [], grids: new Map(), nb: [], undo: [], redo: [],
  layers: [], map: null, touched: new Set(), changeset: null,
};

class ApiError extends Error {}

function token() {
  return $("token").value.trim();
}

async function api(method, path, body) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const detail = data && data.detail !== undefined ? JSON.stringify(data.detail) : text;
    throw new ApiError(`HTTP ${resp.status} ${path}\n${detail}`);
  }
  return data;
}

function showError(err) {
  const box = $("error");
  box.textContent = err ? String(err.message || err) : "";
  box.hidden = !err;
}

function status(text) {
  $("status").textContent = text;
}

function option(select, value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  select.appendChild(o);
}

function label(g) {
  return `${g.code || "（新编码 new）"} ${g.name}`;
}

// -- loading ---------------------------------------------------------------------------

async function loadCommunities() {
  showError(null);
  const rows = await api("GET", "/edit/communities");
  const sel = $("community");
  sel.replaceChildren();
  for (const r of rows) option(sel, r.code, `${r.code} ${r.name}（${r.grids} 个网格）`);
  status(`${rows.length} 个社区可编辑 · ${rows.length} communities`);
  document.body.dataset.communities = String(rows.length);
}

async function openCommunity() {
  showError(null);
  const code = $("community").value;
  const data = await api("GET", `/edit/communities/${encodeURIComponent(code)}`);
  state.code = code;
  state.data = data;
  state.owner = data.blocks.features.map((f) => f.properties.grid);
  state.grids = new Map(data.grids.map((g) => [g.key, { ...g }]));
  state.nb = data.blocks.features.map(() => new Set());
  for (const [a, b] of data.edges) {
    state.nb[a].add(b);
    state.nb[b].add(a);
  }
  state.undo = [];
  state.redo = [];
  state.touched = new Set();
  state.changeset = null;
  $("saved").hidden = true;
  drawMap();
  const bands = Object.entries(data.bands).filter(([, v]) => v)
    .map(([k, v]) => `${k} ${v[0]}–${v[1]}`).join("，");
  $("band").textContent = `${data.name}（${data.community_code}）· 规范 profile ${data.profile} · 户数区间 band: ${bands}`;
  render();
  $("save-btn").disabled = false;
  status(`${data.grids.length} 个网格，${data.blocks.features.length} 个地块 · grids, blocks`);
  document.body.dataset.ready = "true";
}

// -- the map ---------------------------------------------------------------------------

function colour(key) {
  const keys = [...state.grids.keys()];
  return PALETTE[Math.max(keys.indexOf(key), 0) % PALETTE.length];
}

function drawMap() {
  if (!state.map) state.map = L.map("map", { preferCanvas: false });
  for (const l of state.layers) l.remove();
  state.layers = [];
  state.map.fitBounds(L.geoJSON(state.data.blocks).getBounds()); // a view before the paths
  state.data.blocks.features.forEach((f, i) => {
    const layer = L.geoJSON(f, { style: () => blockStyle(i) });
    layer.on("click", () => clickBlock(i));
    const tip = document.createElement("span");
    tip.textContent = `地块 ${i} · ${f.properties.households} 户`;
    layer.bindTooltip(tip); // a span filled with textContent
    layer.addTo(state.map);
    layer.eachLayer((p) => p.getElement && p.getElement()?.setAttribute("data-block", String(i)));
    state.layers.push(layer);
  });
}

function blockStyle(i) {
  return { color: "#555", weight: 1, fillColor: colour(state.owner[i]), fillOpacity: 0.55 };
}

function restyle(blocks) {
  for (const i of blocks) state.layers[i].setStyle(blockStyle(i));
}

// -- edits -----------------------------------------------------------------------------

function snapshot() {
  return { owner: state.owner.slice(), grids: new Map([...state.grids].map(([k, g]) => [k, { ...g }])) };
}

function apply(edit) {
  state.undo.push(snapshot());
  state.redo = [];
  edit();
}

function borders(block, key) {
  for (const n of state.nb[block]) if (state.owner[n] === key) return true;
  return false;
}

function clickBlock(i) {
  const t0 = performance.now();
  showError(null);
  const to = $("target").value;
  const from = state.owner[i];
  if (!to || from === to) return;
  if (!borders(i, to)) {
    showError(new Error(`地块 ${i} 不与网格 ${label(state.grids.get(to))} 相邻 · block ${i} does not border the target grid`));
    return;
  }
  apply(() => {
    state.owner[i] = to;
    if (!state.owner.includes(from)) state.grids.delete(from);
    state.touched = new Set([from, to]);
  });
  restyle([i]);
  render(t0);
}

function merge() {
  const a = $("merge-a").value;
  const b = $("merge-b").value;
  if (!a || !b || a === b) return;
  const t0 = performance.now();
  apply(() => {
    const moved = [];
    state.owner.forEach((k, i) => {
      if (k === b) {
        state.owner[i] = a;
        moved.push(i);
      }
    });
    state.grids.get(a).code = null; // a merge gets a new code at filing
    state.grids.delete(b);
    state.touched = new Set([a]);
  });
  restyle(state.owner.keys());
  render(t0);
}

function rename() {
  const key = $("rename-grid").value;
  const name = $("rename-name").value.trim();
  if (!key || !name) return;
  const t0 = performance.now();
  apply(() => {
    state.grids.get(key).name = name;
    state.touched = new Set([key]);
  });
  render(t0);
}

function step(from, to) {
  if (!from.length) return;
  const t0 = performance.now();
  to.push(snapshot());
  const s = from.pop();
  const changed = s.owner.flatMap((k, i) => (k !== state.owner[i] ? [i] : []));
  state.touched = new Set(changed.flatMap((i) => [s.owner[i], state.owner[i]]));
  state.owner = s.owner;
  state.grids = s.grids;
  restyle(state.owner.keys());
  render(t0);
}

// -- counts and findings (in the page: block sums, the band, contiguity) ----------------

function counts() {
  const hh = new Map([...state.grids.keys()].map((k) => [k, 0]));
  state.data.blocks.features.forEach((f, i) => {
    hh.set(state.owner[i], (hh.get(state.owner[i]) || 0) + f.properties.households);
  });
  return hh;
}

function contiguous(key) {
  const mine = state.owner.flatMap((k, i) => (k === key ? [i] : []));
  if (mine.length < 2) return true;
  const seen = new Set([mine[0]]);
  const todo = [mine[0]];
  while (todo.length) {
    for (const n of state.nb[todo.pop()]) {
      if (!seen.has(n) && state.owner[n] === key) {
        seen.add(n);
        todo.push(n);
      }
    }
  }
  return seen.size === mine.length;
}

function findings(hh) {
  const out = [];
  for (const [key, g] of state.grids) {
    const band = state.data.bands[g.grid_type];
    const n = hh.get(key);
    if (band && n < band[0]) {
      out.push({ key, severity: "warning", rule: "size.below_floor", text: `${label(g)}：${n} 户，低于 ${g.grid_type} 区间 ${band[0]}–${band[1]}` });
    } else if (band && n > band[1]) {
      out.push({ key, severity: "warning", rule: "size.above_ceiling", text: `${label(g)}：${n} 户，超过 ${g.grid_type} 区间 ${band[0]}–${band[1]}` });
    }
    if (!contiguous(key)) {
      out.push({ key, severity: "error", rule: "geometry.not_contiguous", text: `${label(g)} 不连续 · not contiguous` });
    }
  }
  return out;
}

function fillSelect(id, keep) {
  const sel = $(id);
  const old = sel.value;
  sel.replaceChildren();
  if (id === "target") option(sel, "", "（选择网格 choose a grid）");
  for (const [key, g] of state.grids) option(sel, key, label(g));
  if (keep && state.grids.has(old)) sel.value = old;
}

function render(t0) {
  const hh = counts();
  const found = findings(hh);
  const body = document.querySelector("#grids tbody");
  body.replaceChildren();
  const bad = new Set(found.map((f) => f.key));
  for (const [key, g] of state.grids) {
    const tr = document.createElement("tr");
    tr.dataset.grid = key;
    if (bad.has(key)) tr.classList.add("out-of-band");
    if (state.touched.has(key)) tr.classList.add("touched");
    for (const v of [g.code || "（新 new）", g.name, String(hh.get(key)), bad.has(key) ? "⚠" : "✓"]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.children[2].className = "households";
    body.appendChild(tr);
  }
  const list = $("findings");
  list.replaceChildren();
  for (const f of found) {
    const li = document.createElement("li");
    li.className = f.severity;
    li.dataset.rule = f.rule;
    li.dataset.grid = f.key;
    li.textContent = f.text;
    list.appendChild(li);
  }
  for (const id of ["target", "merge-a", "merge-b", "rename-grid"]) fillSelect(id, true);
  $("undo-btn").disabled = !state.undo.length;
  $("redo-btn").disabled = !state.redo.length;
  if (t0 !== undefined) {
    const ms = performance.now() - t0;
    document.body.dataset.lastEditMs = ms.toFixed(2);
    $("latency").textContent = `更新用时 ${ms.toFixed(1)} ms · edit → counts`;
  }
  document.body.dataset.edits = String(state.undo.length);
}

// -- saving and filing -----------------------------------------------------------------

async function save() {
  showError(null);
  const body = {
    owner: state.owner,
    grids: [...state.grids.values()].map((g) => ({ key: g.key, code: g.code, name: g.name, grid_type: g.grid_type })),
    title: $("title").value,
    reason: $("reason").value,
  };
  const res = await api("POST", `/edit/communities/${encodeURIComponent(state.code)}/draft`, body);
  state.changeset = res.changeset_id;
  $("saved").hidden = false;
  $("saved-msg").textContent = res.changeset_id === null
    ? "无变化 · nothing changed"
    : `草稿 #${res.changeset_id} 已保存 · draft change set saved`;
  const tbody = document.querySelector("#diff tbody");
  tbody.replaceChildren();
  for (const r of res.items) {
    const tr = document.createElement("tr");
    for (const v of [r.action, (r.old_codes || []).join(", "), (r.new_codes || []).join(", "), r.households_before, r.households_after]) {
      const td = document.createElement("td");
      td.textContent = v === null || v === undefined ? "" : String(v);
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  const ul = $("saved-findings");
  ul.replaceChildren();
  for (const f of res.findings) {
    const li = document.createElement("li");
    li.className = f.severity;
    li.textContent = `${f.rule}: ${f.message}`;
    ul.appendChild(li);
  }
  document.body.dataset.changeset = String(res.changeset_id);
}

async function fileIt() {
  showError(null);
  if (state.changeset === null) return;
  const reason = $("force-reason").value.trim();
  const res = await api("POST", `/changes/${state.changeset}/file`, {
    force: reason.length > 0, force_reason: reason,
  });
  $("saved-msg").textContent = `#${state.changeset} 已备案 · filed (${res.changeset.status})`;
  document.body.dataset.filed = String(state.changeset);
}

// -- wiring ----------------------------------------------------------------------------

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  loadCommunities().catch(showError);
});
$("open-btn").addEventListener("click", () => openCommunity().catch(showError));
$("undo-btn").addEventListener("click", () => step(state.undo, state.redo));
$("redo-btn").addEventListener("click", () => step(state.redo, state.undo));
$("merge-btn").addEventListener("click", merge);
$("rename-btn").addEventListener("click", rename);
$("save-btn").addEventListener("click", () => save().catch(showError));
$("file-btn").addEventListener("click", () => fileIt().catch(showError));
