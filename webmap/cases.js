// The dispatcher's case list: filters, the table, and two charts (plain SVG).
import {
  $, STATE_NAMES, api, barChart, bindToken, clearError, el, lineChart, showError, when,
} from "./incidents.js";

for (const [code, name] of Object.entries(STATE_NAMES)) {
  $("state").append(el("option", { value: code }, name));
}
bindToken($("token"));

function flag(c) {
  if (c.overdue) return el("span", { class: "flag overdue" }, "已超期");
  if (c.soon_overdue) return el("span", { class: "flag soon" }, "即将超期");
  if (c.queue_name) return el("span", { class: "flag queue" }, c.queue_name);
  return "";
}

async function load() {
  clearError();
  const params = {
    state: $("state").value,
    overdue: $("overdue").value,
    queued: $("queued").checked ? "true" : "",
    category: $("category").value.trim(),
    grid: $("grid").value.trim(),
  };
  try {
    const data = await api("/incidents", { params });
    const body = $("cases").querySelector("tbody");
    body.replaceChildren(
      ...data.items.map((c) =>
        el(
          "tr",
          { "data-case": c.case_id, "data-state": c.state },
          el("td", {}, el("a", { href: `case.html?id=${c.case_id}` }, String(c.case_id))),
          el("td", {}, c.state_name),
          el("td", {}, c.category || "—"),
          el("td", {}, c.grid_name || "—"),
          el("td", {}, c.community_name || "—"),
          el("td", {}, c.departments.length ? c.departments.join("、") : "—"),
          el("td", {}, when(c.reported_at)),
          el("td", {}, when(c.due_at)),
          el("td", {}, flag(c)),
        ),
      ),
    );
    $("status").textContent = `共 ${data.total} 件，显示 ${data.items.length} 件`;
    await charts();
  } catch (err) {
    showError(err.message);
  }
  document.body.dataset.ready = "true";
}

const HEAT = ["#fff7ec", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"];
let heat = null;

/** Every grid of the registry, page by page (next links kept on this origin). */
async function allGrids() {
  const features = [];
  let next = "/collections/grids/items?limit=2000";
  while (next) {
    const page = await api(next);
    features.push(...(page.features || []));
    const link = (page.links || []).find((l) => l.rel === "next");
    const u = link ? new URL(link.href, window.location.origin) : null;
    next = u ? u.pathname + u.search : null;
  }
  return features;
}

/** Grids coloured by their number of cases (five classes up to the largest count). */
async function heatmap() {
  const L = window.L;
  const [grids, stats] = await Promise.all([
    allGrids(),
    api("/incidents/stats", { params: { by: "grid" } }),
  ]);
  const count = new Map(stats.rows.map((r) => [r.grid_code, r.cases]));
  const max = Math.max(1, ...count.values());
  const cls = (n) => (n ? Math.min(HEAT.length - 1, Math.ceil((n / max) * (HEAT.length - 1))) : 0);
  if (!heat) heat = L.map("heatmap", { zoomSnap: 0.25 }).setView([35, 105], 4);
  heat.eachLayer((l) => heat.removeLayer(l));
  const layer = L.geoJSON(
    { type: "FeatureCollection", features: grids },
    {
      style: (f) => {
        const n = count.get(f.properties.grid_code) || 0;
        return { color: "#64748b", weight: 0.6, fillColor: HEAT[cls(n)], fillOpacity: 0.85 };
      },
      onEachFeature: (f, l) => {
        const n = count.get(f.properties.grid_code) || 0;
        const label = `${f.properties.grid_name || f.properties.grid_code}：${n} 件`;
        l.bindTooltip(document.createTextNode(label)); // text, never HTML
      },
    },
  ).addTo(heat);
  if (grids.length) heat.fitBounds(layer.getBounds());
  layer.eachLayer((l) => {
    const n = count.get(l.feature.properties.grid_code) || 0;
    l.getElement().dataset.cases = String(n);
  });
  $("heat-legend").textContent = `颜色由浅到深：0 至 ${max} 件`;
}

async function charts() {
  const weeks = await api("/incidents/stats", { params: { by: "", period: "week" } });
  $("chart-weeks").replaceChildren(
    lineChart(weeks.rows.map((r) => ({ label: r.period, value: r.cases }))),
  );
  const deps = await api("/incidents/stats", { params: { by: "department" } });
  $("chart-departments").replaceChildren(
    barChart(deps.rows.map((r) => ({ label: String(r.department), value: r.cases }))),
  );
  await heatmap();
}

$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  load();
});
load();
