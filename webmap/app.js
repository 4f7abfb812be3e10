// gridgeo console: offline Leaflet map of the current grids + a locate panel.
// Talks only to the service that serves it (same origin); no basemap, no CDN.

const L = window.L;
const $ = (id) => document.getElementById(id);

const GRIDS = "grids"; // OGC API collection of the current grids
const DIVISIONS = "divisions"; // communities' borders (level "community")
const PAGE = 2000; // features per items request (follows rel=next links)
const LABEL_ZOOM = 16; // grid names from this zoom on, community names below it

const GRID_TYPES = {
  urban: { zh: "城镇网格", color: "#2563eb" },
  rural: { zh: "农村网格", color: "#16a34a" },
  dedicated: { zh: "专属网格", color: "#9333ea" },
};
const OTHER_TYPE = { zh: "其他", color: "#64748b" };
const ROLES = {
  head: "网格长",
  full_time: "专职网格员",
  part_time: "兼职网格员",
  professional: "专业网格员",
};
const HIGHLIGHT = { color: "#ea580c", weight: 4, fillOpacity: 0.45 };

// -- talking to the service ---------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Readable text of an error body: gridgeo's {error, detail} or FastAPI's validation list. */
function describeError(body, text) {
  if (body && Array.isArray(body.detail)) {
    return body.detail
      .map((d) => {
        const where = (d.loc || []).filter((p) => p !== "query" && p !== "body").join(".");
        const got = d.input !== undefined && d.input !== null ? `（输入 got ${JSON.stringify(d.input)}）` : "";
        return `${where ? where + ": " : ""}${d.msg}${got}`;
      })
      .join("\n");
  }
  if (body && body.detail !== undefined) return String(body.detail);
  return text || "(empty response)";
}

/** GET a same-origin path; JSON back, or an ApiError with the service's own message. */
async function api(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const headers = { Accept: "application/json, application/geo+json" };
  const token = $("token").value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(url.pathname + url.search, { headers });
  } catch (err) {
    throw new ApiError(0, `无法连接服务 cannot reach the service (${url.pathname}): ${err.message}`);
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, `HTTP ${resp.status} ${url.pathname}\n${describeError(body, text)}`);
  }
  return body;
}

/** Every feature of a collection, page by page (next links kept on this origin). */
async function allItems(collection) {
  const features = [];
  let next = `/collections/${collection}/items?limit=${PAGE}`;
  while (next) {
    const page = await api(next);
    features.push(...(page.features || []));
    const link = (page.links || []).find((l) => l.rel === "next");
    next = link ? sameOrigin(link.href) : null;
  }
  return features;
}

function sameOrigin(href) {
  const u = new URL(href, window.location.origin);
  return u.pathname + u.search;
}

// -- small DOM helpers ----------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** A span holding ``value`` as text (never parsed as HTML), for Leaflet tooltips. */
function textNode(value) {
  const span = document.createElement("span");
  span.textContent = value === null || value === undefined ? "" : String(value);
  return span;
}

function phone(number) {
  return number ? el("a", { href: `tel:${number.replace(/[^\d+]/g, "")}` }, number) : "—";
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// -- the map ------------------------------------------------------------------------------

const map = L.map("map", { minZoom: 3, maxZoom: 20, zoomSnap: 0.5 }).setView([35, 105], 4);
map.attributionControl.addAttribution("grids: gridgeo registry");
const gridLayers = new Map(); // grid_code -> L.Path
let highlighted = null;
let pointMarker = null;
window.gridgeo = { map, gridLayers }; // for the browser console and tests

function gridStyle(type) {
  const t = GRID_TYPES[type] || OTHER_TYPE;
  return { color: t.color, weight: 1, opacity: 0.9, fillColor: t.color, fillOpacity: 0.18 };
}

function updateLabels() {
  map.getContainer().classList.toggle("show-grid-labels", map.getZoom() >= LABEL_ZOOM);
}
map.on("zoomend", updateLabels);

function drawGrids(features) {
  const layer = L.geoJSON(features, {
    interactive: false,
    style: (f) => gridStyle(f.properties.grid_type),
    onEachFeature: (f, lyr) => {
      gridLayers.set(f.properties.grid_code, lyr);
      // a DOM node, not a string: Leaflet puts strings in as HTML, names are text
      lyr.bindTooltip(textNode(f.properties.grid_name || f.properties.grid_code), {
        permanent: true,
        direction: "center",
        className: "grid-label",
      });
    },
  });
  return layer.addTo(map);
}

function drawCommunities(features) {
  const communities = features.filter((f) => f.properties.level === "community" && f.geometry);
  return L.geoJSON(communities, {
    interactive: false,
    style: { color: "#7c2d12", weight: 2.5, fill: false, dashArray: "6 3" },
    onEachFeature: (f, lyr) =>
      lyr.bindTooltip(textNode(f.properties.name || f.properties.code), {
        permanent: true,
        direction: "center",
        className: "community-label",
      }),
  }).addTo(map);
}

/** Outline the located grid; ``focus`` (typed points) also zooms to it. */
function highlight(code, focus = false) {
  if (highlighted) {
    highlighted.layer.setStyle(gridStyle(highlighted.type));
    highlighted = null;
  }
  const layer = code ? gridLayers.get(code) : null;
  if (!layer) return;
  highlighted = { layer, type: layer.feature.properties.grid_type };
  layer.setStyle(HIGHLIGHT).bringToFront();
  if (focus || !map.getBounds().intersects(layer.getBounds())) {
    map.fitBounds(layer.getBounds(), { maxZoom: 17, padding: [40, 40] });
  }
}

function markPoint(lat, lon) {
  if (pointMarker) pointMarker.remove();
  pointMarker = null;
  if (Number.isFinite(lat) && Number.isFinite(lon)) {
    pointMarker = L.circleMarker([lat, lon], {
      radius: 6, color: "#111827", weight: 2, fillColor: "#facc15", fillOpacity: 1, interactive: false,
    }).addTo(map);
  }
}

function drawLegend() {
  const legend = $("legend");
  for (const [key, t] of Object.entries(GRID_TYPES)) {
    const item = el("span", { title: key }, t.zh);
    item.style.setProperty("--swatch", t.color);
    legend.append(item);
  }
  legend.append(el("span", { class: "community" }, "社区边界 community"));
}

// -- locate ---------------------------------------------------------------------------

function showResult(res) {
  const out = $("result");
  out.replaceChildren();
  const q = res.query || {};
  out.append(el("h2", {}, "定位结果 result"));
  out.append(el("p", { class: "small" }, `${q.lon}, ${q.lat} (${q.crs})`));
  if (!res.located) {
    out.append(el("p", { class: "outside", id: "outside" }, "不在任何网格内 · outside every grid"));
    out.append(el("p", { id: "reason" }, res.reason));
    if (res.department_reason) out.append(el("p", { class: "small" }, res.department_reason));
    return;
  }
  const type = GRID_TYPES[res.grid.type] || OTHER_TYPE;
  const dl = el("dl");
  const row = (label, ...value) => dl.append(el("dt", {}, label), el("dd", {}, ...value));
  row("社区", `${res.community.name} `, el("span", { class: "code" }, res.community.code));
  row("网格", el("span", { id: "grid-name" }, res.grid.name));
  row("网格编码", el("span", { class: "code", id: "grid-code" }, res.grid.code));
  row("网格类型", `${type.zh} (${res.grid.type})`);

  const heads = res.contacts.filter((c) => c.role === "head");
  const workers = res.contacts.filter((c) => c.role !== "head");
  const people = (list) =>
    list.length
      ? el("ul", {}, ...list.map((c) => el("li", {}, `${c.name}（${ROLES[c.role] || c.role}）`, " ", phone(c.phone))))
      : "无公示联系人 none posted";
  row("网格员", el("div", { id: "workers" }, people(workers)));
  row("网格长", el("div", { id: "heads" }, people(heads)));

  let dept;
  if (res.department) {
    const others = res.departments.filter((d) => d.department_id !== res.department.department_id);
    dept = el(
      "div",
      { id: "department" },
      res.department.name,
      res.departments.length > 1 ? "（牵头 lead）" : "",
      " ",
      phone(res.department.phone),
      others.length ? el("div", { class: "small" }, "协办 also: " + others.map((d) => d.name).join("、")) : null,
    );
  } else {
    dept = el("div", { id: "department" }, res.department_reason || "未选择事项类别 no category chosen");
  }
  row("责任部门", dept);

  const dist = `${res.distance_to_border_m} m`;
  row(
    "距网格边界",
    res.near_border
      ? el("span", { class: "near", id: "near-border" }, `${dist} · 靠近边界，请核实 near the border`)
      : el("span", { id: "near-border" }, `${dist} · 不靠近边界 not near`),
  );
  out.append(dl);
}

async function locate({ lon, lat, crs, fromMap }) {
  clearError();
  const button = $("locate-btn");
  button.disabled = true;
  const params = { lon, lat, crs };
  const category = $("category").value;
  if (category) params.category = category;
  try {
    const res = await api("/locate", params);
    showResult(res);
    highlight(res.located ? res.grid.code : null, !fromMap);
    // the map is drawn in WGS 84 (CGCS2000 is within centimetres of it)
    if (fromMap || crs === "wgs84" || crs === "cgcs2000") markPoint(Number(lat), Number(lon));
    else markPoint(NaN, NaN);
    if (!fromMap && !res.located && pointMarker) map.panTo(pointMarker.getLatLng());
  } catch (err) {
    $("result").replaceChildren();
    highlight(null);
    showError(err.message);
  } finally {
    button.disabled = false;
  }
}

map.on("click", (e) => {
  const lon = e.latlng.lng.toFixed(6);
  const lat = e.latlng.lat.toFixed(6);
  $("lon").value = lon;
  $("lat").value = lat;
  $("crs").value = "wgs84"; // the map shows WGS 84
  locate({ lon, lat, crs: "wgs84", fromMap: true });
});

$("locate-form").addEventListener("submit", (e) => {
  e.preventDefault();
  // sent as typed: the service checks the numbers and says what is wrong
  locate({ lon: $("lon").value.trim(), lat: $("lat").value.trim(), crs: $("crs").value });
});

// -- start-up -----------------------------------------------------------------------------

async function loadCategories() {
  const select = $("category");
  const matters = await api("/categories");
  const seen = new Set();
  for (const c of matters) {
    seen.add(c.code);
    select.append(el("option", { value: c.code }, `${c.name} (${c.code})`));
  }
  // categories that departments cover but the matter list lacks are still answerable
  const departments = await api("/departments");
  const extra = [...new Set(departments.flatMap((d) => d.categories || []))].filter((c) => !seen.has(c));
  for (const c of extra.sort()) select.append(el("option", { value: c }, c));
}

async function loadMap() {
  const [grids, divisions] = await Promise.all([allItems(GRIDS), allItems(DIVISIONS)]);
  const communities = drawCommunities(divisions);
  const gridLayer = drawGrids(grids);
  const bounds = gridLayer.getBounds().isValid() ? gridLayer.getBounds() : communities.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
  const nCommunities = new Set(grids.map((f) => f.properties.community_code)).size;
  $("status").textContent = grids.length
    ? `${grids.length} 个网格 · ${nCommunities} 个社区 grids · communities`
    : "登记库中没有现行网格 the registry has no current grids";
  document.body.dataset.grids = String(grids.length);
}

drawLegend();
updateLabels();
const failures = [];
await Promise.all([
  loadMap().catch((err) => {
    $("status").textContent = "网格加载失败 grids not loaded";
    failures.push(err.message);
  }),
  loadCategories().catch((err) => failures.push(`事项类别 categories: ${err.message}`)),
]);
if (failures.length) showError(failures.join("\n\n"));
document.body.dataset.ready = "true";
