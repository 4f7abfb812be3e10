// gridgeo filing review: the city (or the receiving division) lists filed change sets,
// looks at one (forced breaks first, before/after map, codes and households, findings
// per grid, reassignments) and accepts it or returns it with a reason.
// Every text from the registry is set with textContent; tooltips are DOM nodes.

const L = window.L;
const $ = (id) => document.getElementById(id);
const state = { current: null, maps: {} };

class ApiError extends Error {}

function token() {
  return $("token").value.trim();
}

/** A same-origin request with the reviewer's token; JSON back or an ApiError with the detail. */
async function api(method, path, body) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const detail = data && data.detail !== undefined ? String(data.detail) : text;
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

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "" : String(value);
  row.appendChild(td);
}

function fill(tableId, rows, columns) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of columns) cell(tr, typeof c === "function" ? c(r) : r[c]);
    body.appendChild(tr);
  }
}

// -- the list --------------------------------------------------------------------------

async function loadList() {
  showError(null);
  const rows = await api("GET", "/changes?status=filed");
  const list = $("list");
  list.replaceChildren();
  for (const r of rows) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.changeset = String(r.changeset_id);
    b.textContent = `#${r.changeset_id} · ${r.county_code} · ${r.title || "（无标题）"}`;
    b.addEventListener("click", () => open(r.changeset_id).catch(showError));
    list.appendChild(b);
  }
  status(`${rows.length} 件待审核 · ${rows.length} filed change sets`);
  document.body.dataset.ready = "true";
}

// -- one change set --------------------------------------------------------------------

function tooltip(props) {
  const el = document.createElement("span");
  el.textContent = `${props.grid_code} ${props.grid_name || ""} · ${props.households ?? "?"} 户`;
  return el;
}

function drawMap(id, collection, color, bounds) {
  if (state.maps[id]) state.maps[id].remove();
  const map = L.map(id, { attributionControl: false });
  state.maps[id] = map;
  const layer = L.geoJSON(collection, {
    style: { color, weight: 2, fillOpacity: 0.25 },
    onEachFeature: (f, l) => l.bindTooltip(tooltip(f.properties), { sticky: true }), // textContent node
  }).addTo(map);
  const b = bounds || layer.getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [10, 10] });
  else map.setView([0, 0], 2);
  return layer;
}

async function open(id) {
  showError(null);
  const [shown, diff, grids] = await Promise.all([
    api("GET", `/changes/${id}`),
    api("GET", `/changes/${id}/diff`),
    api("GET", `/changes/${id}/grids`),
  ]);
  const cs = shown.changeset;
  state.current = cs.changeset_id;
  for (const b of $("list").children) {
    b.classList.toggle("current", b.dataset.changeset === String(id));
  }
  $("detail").hidden = false;
  $("detail").dataset.changeset = String(id);

  const forced = cs.forced_breaks || [];
  $("forced").hidden = forced.length === 0;
  $("forced-reason").textContent = cs.force_reason || "";
  const list = $("forced-list");
  list.replaceChildren();
  for (const b of forced) {
    const li = document.createElement("li");
    li.textContent = `${b.rule} ${b.grids || ""}: ${b.message}`;
    list.appendChild(li);
  }

  $("cs-title").textContent = `#${cs.changeset_id} ${cs.title || ""}`;
  $("cs-meta").textContent =
    `县区 county ${cs.county_code} · 报备 filed by ${cs.filed_by} · 规则 profile ${cs.profile || "—"}` +
    ` · 备案机关 receiver ${cs.receiver_code || "—"} · 事由 ${cs.reason || ""}`;
  const rules = (cs.validation && cs.validation.rules) || {};
  $("households-note").textContent =
    cs.household_source === "declared"
      ? "本县未上传户籍点位：户数为网格申报数 · no household layer: sizes are the declared counts"
      : "户数按本县户籍点位重新统计 · households recounted from the county's household layer";

  const before = drawMap("map-before", grids.before, "#b2182b");
  const bounds = before.getBounds();
  const after = L.geoJSON(grids.after);
  drawMap("map-after", grids.after, "#2166ac", bounds.isValid() ? bounds.extend(after.getBounds()) : null);

  fill("diff", diff.codes, ["change", "old_code", "new_code", "households_before", "households_after"]);
  fill("findings", rules.issues || [], ["severity", "rule", "grids", "message"]);
  fill("moves", diff.reassignments, ["kind", "grid_code", "what", "before", "after"]);
  status(`正在审核 #${cs.changeset_id} · reviewing`);
}

async function decide(action) {
  showError(null);
  const id = state.current;
  if (id === null) return;
  const body = {};
  if (action === "return") {
    body.reason = $("return-reason").value.trim();
    if (!body.reason) throw new ApiError("退回须填写理由 · a return needs a reason");
  }
  await api("POST", `/changes/${id}/${action}`, body);
  $("return-reason").value = "";
  $("detail").hidden = true;
  state.current = null;
  await loadList();
  status(`#${id} ${action === "accept" ? "已同意备案 accepted" : "已退回 returned"}`);
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadList().catch(showError);
});
$("accept-btn").addEventListener("click", () => decide("accept").catch(showError));
$("return-btn").addEventListener("click", () => decide("return").catch(showError));
window.gridgeoReview = state;
