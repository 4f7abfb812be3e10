// gridgeo console: offline Leaflet map of the current grids + a locate panel.
// Talks only to the service that serves it (same origin); no basemap, no CDN.

const L = window.L;
const $ = (id) => document.getElementById(id);

const GRIDS = "grids"; // OGC API collection of the current grids
const DIVISIONS = "divisions"; // communities' borders (level "community")
const PAGE = 2000; // features per items request (follows rel=next links)
const LABEL_ZOOM = 16; // grid names from this zoom on, community names below it

const GRID_TYPES = {
  urban: { color: "#2563eb" },
  rural: { color: "#16a34a" },
  dedicated: { color: "#9333ea" },
};
const OTHER_TYPE = { color: "#64748b" };

// -- language: a small JSON catalogue (i18n.json), zh_CN by default ------------------------

const LANG_KEY = "gridgeo.lang";
// the service's settings for the console: {lang, basemap: {url, crs, subdomains, attribution} | null}
let config = { lang: null, basemap: null };
/** The datum the map is drawn in: wgs84, or gcj02 under a GCJ-02 online basemap. */
const mapDatum = () => (config.basemap && config.basemap.crs === "gcj02" ? "gcj02" : "wgs84");
let catalogue = { zh_CN: {}, en: {} };
let lang = "zh_CN";

/** ``zh``, ``zh-CN``, ``zh-Hans-CN`` → zh_CN; anything else → en. */
function normaliseLang(value) {
  return String(value || "").toLowerCase().startsWith("zh") ? "zh_CN" : "en";
}

/** The text of ``key`` in the current language, ``{name}`` placeholders filled in. */
function t(key, vars = {}) {
  const text = (catalogue[lang] || {})[key] ?? (catalogue.zh_CN || {})[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? "" : String(vars[k])));
}

/** Set every [data-i18n] element's text (never HTML) and the page's language. */
function applyLanguage() {
  document.documentElement.lang = lang === "zh_CN" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  document.body.dataset.lang = lang;
  drawLegend();
  showStatus();
}

async function loadLanguage() {
  try {
    catalogue = await api("/console/i18n.json");
  } catch {
    catalogue = { zh_CN: {}, en: {} }; // the page's own Chinese text stays
  }
  let configured = null;
  try {
    config = await api("/console/config.json");
    configured = config.lang;
  } catch {
    configured = null;
  }
  // the user's own choice, else GRIDGEO_LANG when set, else the browser's language
  const saved = window.localStorage.getItem(LANG_KEY);
  lang = normaliseLang(saved || configured || navigator.language || "zh-CN");
  applyLanguage();
}
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
  // under a GCJ-02 basemap the service shifts the outlines to GCJ-02 (gridgeo.crs)
  const shift = mapDatum() === "gcj02" ? "&shift=gcj02" : "";
  let next = `/collections/${collection}/items?limit=${PAGE}${shift}`;
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
const places = new Map(); // community code -> {layer, parent}: the district/community picker
let home = null; // bounds of every grid: the reset view
let counts = null; // {grids, communities} for the status line
let highlighted = null;
let pointMarker = null;
window.gridgeo = { map, gridLayers, places }; // for the browser console and tests

function gridStyle(type) {
  const t = GRID_TYPES[type] || OTHER_TYPE;
  return { color: t.color, weight: 1, opacity: 0.9, fillColor: t.color, fillOpacity: 0.18 };
}

function updateLabels() {
  map.getContainer().classList.toggle("show-grid-labels", map.getZoom() >= LABEL_ZOOM);
  declutter();
}
map.on("zoomend", updateLabels);
map.on("moveend", declutter);

/** Hide labels that would overlap one already shown (larger areas first): readable at any zoom. */
function declutter() {
  const cls = map.getZoom() >= LABEL_ZOOM ? ".grid-label" : ".community-label";
  const shown = [];
  const labels = [...map.getContainer().querySelectorAll(cls)];
  labels.sort((a, b) => (Number(b.dataset.area) || 0) - (Number(a.dataset.area) || 0));
  for (const node of labels) {
    node.classList.remove("label-hidden");
    const box = node.getBoundingClientRect();
    if (!box.width) continue;
    const clash = shown.some(
      (o) => box.left < o.right && o.left < box.right && box.top < o.bottom && o.top < box.bottom,
    );
    if (clash) node.classList.add("label-hidden");
    else shown.push(box);
  }
}

/** Label a feature with its name as text; its area decides who wins a clash. */
function label(lyr, text, className) {
  lyr.bindTooltip(textNode(text), { permanent: true, direction: "center", className }); // createTextNode
  const b = lyr.getBounds();
  const area = Math.abs((b.getEast() - b.getWest()) * (b.getNorth() - b.getSouth()));
  lyr.on("tooltipopen", (e) => {
    e.tooltip.getElement().dataset.area = String(area);
  });
}

function drawGrids(features) {
  const layer = L.geoJSON(features, {
    interactive: false,
    style: (f) => gridStyle(f.properties.grid_type),
    onEachFeature: (f, lyr) => {
      gridLayers.set(f.properties.grid_code, lyr);
      // a DOM node, not a string: Leaflet puts strings in as HTML, names are text
      label(lyr, f.properties.grid_name || f.properties.grid_code, "grid-label");
    },
  });
  return layer.addTo(map);
}

function drawCommunities(features) {
  const communities = features.filter((f) => f.properties.level === "community" && f.geometry);
  return L.geoJSON(communities, {
    interactive: false,
    style: { color: "#7c2d12", weight: 2.5, fill: false, dashArray: "6 3" },
    onEachFeature: (f, lyr) => {
      places.set(f.properties.code, { layer: lyr, parent: f.properties.parent_code });
      label(lyr, f.properties.name || f.properties.code, "community-label");
    },
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
  legend.replaceChildren();
  for (const [key, type] of Object.entries(GRID_TYPES)) {
    const item = el("span", { title: key }, t(key));
    item.style.setProperty("--swatch", type.color);
    legend.append(item);
  }
  legend.append(el("span", { class: "community" }, t("community_border")));
}

// -- locate ---------------------------------------------------------------------------

function showResult(res) {
  const out = $("result");
  out.replaceChildren();
  const q = res.query || {};
  out.append(el("h2", {}, t("result")));
  out.append(el("p", { class: "small" }, `${q.lon}, ${q.lat} (${q.crs})`));
  if (!res.located) {
    out.append(el("p", { class: "outside", id: "outside" }, t("outside")));
    out.append(el("p", { id: "reason" }, res.reason));
    if (res.department_reason) out.append(el("p", { class: "small" }, res.department_reason));
    return;
  }
  const dl = el("dl");
  const row = (label, ...value) => dl.append(el("dt", {}, label), el("dd", {}, ...value));
  row(t("r_community"), `${res.community.name} `, el("span", { class: "code" }, res.community.code));
  row(t("r_grid"), el("span", { id: "grid-name" }, res.grid.name));
  row(t("r_code"), el("span", { class: "code", id: "grid-code" }, res.grid.code));
  row(t("r_type"), `${t(res.grid.type)} (${res.grid.type})`);

  const heads = res.contacts.filter((c) => c.role === "head");
  const workers = res.contacts.filter((c) => c.role !== "head");
  const people = (list) =>
    list.length
      ? el("ul", {}, ...list.map((c) => el("li", {}, `${c.name}（${ROLES[c.role] || c.role}）`, " ", phone(c.phone))))
      : t("none_posted");
  row(t("r_workers"), el("div", { id: "workers" }, people(workers)));
  row(t("r_heads"), el("div", { id: "heads" }, people(heads)));

  let dept;
  if (res.department) {
    const others = res.departments.filter((d) => d.department_id !== res.department.department_id);
    dept = el(
      "div",
      { id: "department" },
      res.department.name,
      res.departments.length > 1 ? t("lead") : "",
      " ",
      phone(res.department.phone),
      others.length ? el("div", { class: "small" }, t("also") + others.map((d) => d.name).join("、")) : null,
    );
  } else {
    dept = el("div", { id: "department" }, res.department_reason || t("no_dept"));
  }
  row(t("r_department"), dept);

  const dist = `${res.distance_to_border_m} m`;
  row(
    t("r_border"),
    res.near_border
      ? el("span", { class: "near", id: "near-border" }, `${dist} · ${t("near")}`)
      : el("span", { id: "near-border" }, `${dist} · ${t("not_near")}`),
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
    const sameDatum = mapDatum() === "gcj02" ? crs === "gcj02" : crs === "wgs84" || crs === "cgcs2000";
    if (fromMap || sameDatum) markPoint(Number(lat), Number(lon));
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
  const crs = mapDatum(); // the map shows WGS 84, or GCJ-02 under a GCJ-02 basemap
  $("lon").value = lon;
  $("lat").value = lat;
  $("crs").value = crs;
  locate({ lon, lat, crs, fromMap: true });
});

/** The optional online basemap (GRIDGEO_BASEMAP_URL); by default none: the outlines are the map. */
function addBasemap() {
  const b = config.basemap;
  if (!b || !b.url) return;
  L.tileLayer(b.url, {
    subdomains: b.subdomains || "abc",
    attribution: b.attribution || "",
    maxZoom: 20,
  }).addTo(map);
  $("offline-note").hidden = true;
}

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
  if (bounds.isValid()) {
    home = bounds;
    map.fitBounds(bounds, { padding: [20, 20] });
  }
  const nCommunities = new Set(grids.map((f) => f.properties.community_code)).size;
  counts = { grids: grids.length, communities: nCommunities };
  showStatus();
  fillPicker(divisions);
  declutter();
  document.body.dataset.grids = String(grids.length);
}

function showStatus() {
  if (!counts) return;
  $("status").textContent = counts.grids ? t("status", counts) : t("empty");
}

/** Districts (the communities' parents) and their communities, by name. */
function fillPicker(divisions) {
  const names = new Map(divisions.map((f) => [f.properties.code, f.properties.name]));
  const byParent = new Map();
  for (const [code, p] of places) {
    const key = p.parent || "";
    if (!byParent.has(key)) byParent.set(key, []);
    byParent.get(key).push(code);
  }
  const select = $("place");
  for (const [parent, codes] of [...byParent].sort()) {
    const group = el("optgroup", { label: names.get(parent) || parent || "—" });
    if (parent) group.append(el("option", { value: `d:${parent}` }, names.get(parent) || parent));
    for (const code of codes.sort()) {
      group.append(el("option", { value: `c:${code}` }, `· ${names.get(code) || code}`));
    }
    select.append(group);
  }
}

/** Fit the map to a district ("d:code"), a community ("c:code") or everything (""). */
function showPlace(value) {
  let bounds = null;
  if (value.startsWith("c:")) bounds = places.get(value.slice(2))?.layer.getBounds();
  else if (value.startsWith("d:")) {
    bounds = L.latLngBounds([]);
    for (const p of places.values()) {
      if (p.parent === value.slice(2)) bounds.extend(p.layer.getBounds());
    }
  } else bounds = home;
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
}

$("place").addEventListener("change", (e) => showPlace(e.target.value));
$("reset").addEventListener("click", () => {
  $("place").value = "";
  highlight(null);
  markPoint(NaN, NaN);
  showPlace("");
});
$("lang-switch").addEventListener("click", () => {
  lang = lang === "zh_CN" ? "en" : "zh_CN";
  window.localStorage.setItem(LANG_KEY, lang);
  applyLanguage();
});

await loadLanguage();
addBasemap();
updateLabels();
const failures = [];
await Promise.all([
  loadMap().catch((err) => {
    $("status").textContent = t("not_loaded");
    failures.push(err.message);
  }),
  loadCategories().catch((err) => failures.push(`事项类别 categories: ${err.message}`)),
]);
if (failures.length) showError(failures.join("\n\n"));
document.body.dataset.ready = "true";
