// A grid worker's day on the map: the track coloured inside/outside the own grids over the
// grids, the own grids' roads with the covered pieces highlighted. Data: GET /tracks/day.
// Every name and code is written with textContent (never parsed as HTML).
import { $, api, bindToken, clearError, el, showError, when } from "./incidents.js";

bindToken($("token"));

const STYLE = {
  grid: (p) => ({
    color: p.own ? "#4a6fa5" : "#bbbbbb",
    weight: p.own ? 2 : 1,
    fillColor: p.own ? "#dbe9f6" : "#f2f2f2",
    fillOpacity: 0.5,
  }),
  road: () => ({ color: "#999999", weight: 2 }),
  road_covered: () => ({ color: "#f5a623", weight: 6, opacity: 0.9 }),
  track: (p) => ({ color: p.in_own ? "#1a9641" : "#d7191c", weight: 3 }),
};
const ORDER = ["grid", "road", "road_covered", "track"];

const map = L.map("day-map", { attributionControl: false }).setView([30, 114], 4);
window.gridgeo = { map, layers: {} };
let drawn = null;

function tooltip(p) {
  const span = document.createElement("span");
  if (p.kind === "grid") span.textContent = `${p.grid_code}${p.own ? "（本人网格）" : ""}`;
  else if (p.kind === "track") span.textContent = p.in_own ? "本网格内" : "本网格外";
  else span.textContent = p.kind === "road_covered" ? "已巡查道路" : "道路";
  return span;
}

function hours(s) {
  return s === null || s === undefined ? "—" : `${(s / 3600).toFixed(2)} 小时`;
}

function facts(p) {
  const rows = [
    ["网格员", p.worker],
    ["日期", p.date],
    ["本人网格", p.own_grids || "无"],
    ["本网格内", `${hours(p.own_s)}，${((p.own_m || 0) / 1000).toFixed(2)} 公里`],
    ["本网格外", `${hours(p.other_s)}，${((p.other_m || 0) / 1000).toFixed(2)} 公里`],
    ["首次进入", when(p.first_in_own)],
    ["最后离开", when(p.last_in_own)],
    ["道路覆盖", p.road_share === null || p.road_share === undefined
      ? "—" : `${Math.round(p.road_share * 100)}%`],
    ["巡查要求", p.required_h === null || p.required_h === undefined
      ? "—" : `${p.required_h} 小时：${p.meets_rule ? "达标" : "未达标"}`],
  ];
  $("facts").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function show(worker, date) {
  clearError();
  document.body.dataset.ready = "false";
  try {
    const fc = await api("/tracks/day", { params: { worker, date } });
    if (drawn) drawn.forEach((l) => l.remove());
    drawn = ORDER.map((kind) => {
      const layer = L.geoJSON(
        {
          type: "FeatureCollection",
          // own grids last, so their outline is drawn over the neighbours' shared edges
          features: fc.features
            .filter((f) => f.properties.kind === kind)
            .sort((a, b) => Number(Boolean(a.properties.own)) - Number(Boolean(b.properties.own))),
        },
        {
          style: (f) => STYLE[kind](f.properties),
          onEachFeature: (f, l) => l.bindTooltip(tooltip(f.properties), { sticky: true }),
        },
      ).addTo(map);
      window.gridgeo.layers[kind] = layer;
      return layer;
    });
    const track = window.gridgeo.layers.track.getBounds();
    const b = track.isValid() ? track : drawn[0].getBounds();
    if (b.isValid()) map.fitBounds(b, { padding: [20, 20] });
    facts(fc.properties);
    $("status").textContent = `${fc.features.length} 个要素`;
  } catch (err) {
    showError(err.message);
  }
  document.body.dataset.ready = "true";
}

$("day-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const params = new URLSearchParams({ worker: $("worker").value.trim(), date: $("date").value });
  history.replaceState(null, "", `?${params}`);
  show(params.get("worker"), params.get("date"));
});

const q = new URLSearchParams(window.location.search);
if (q.get("worker") && q.get("date")) {
  $("worker").value = q.get("worker");
  $("date").value = q.get("date");
  show(q.get("worker"), q.get("date"));
} else {
  document.body.dataset.ready = "true";
}
