// One case: its map (the grid and the point), facts, the timeline, and the caller's actions.
import {
  $, ACTION_NAMES, api, bindToken, clearError, el, showError, when,
} from "./incidents.js";

const L = window.L;
const id = Number(new URLSearchParams(window.location.search).get("id"));
bindToken($("token"));
const map = L.map("case-map", { minZoom: 3, maxZoom: 20 }).setView([35, 105], 4);
let layers = L.layerGroup().addTo(map);
window.gridgeo = { map };

function fact(label, value) {
  return [el("dt", {}, label), el("dd", {}, value === null || value === undefined ? "—" : String(value))];
}

function body() {
  const out = {};
  const reason = $("reason").value.trim();
  const feedback = $("feedback").value.trim();
  const deps = $("department").value.split(/[,，、\s]+/).filter(Boolean).map(Number);
  const sat = $("satisfaction").value;
  if (reason) out.reason = reason;
  if (feedback) out.feedback = feedback;
  if (deps.length) {
    out.department = deps;
    out.lead = deps[0];
  }
  if (sat) out.satisfaction = Number(sat);
  const callback = $("callback").value;
  const key = $("evaluation-key").value.trim();
  if (callback) out.callback = callback;
  if (key) out.evaluation_key = key;
  return out;
}

async function act(action) {
  clearError();
  try {
    await api(`/incidents/${id}/actions/${action}`, { method: "POST", body: body() });
    await load();
  } catch (err) {
    showError(err.message);
  }
}

async function drawMap(c) {
  layers.clearLayers();
  if (c.grid_code) {
    try {
      const grid = await api(`/collections/grids/items/${encodeURIComponent(c.grid_code)}`);
      const g = L.geoJSON(grid, { style: { color: "#2563eb", weight: 2, fillOpacity: 0.15 } });
      layers.addLayer(g);
      map.fitBounds(g.getBounds(), { maxZoom: 17 });
    } catch (err) {
      showError(err.message);
    }
  }
  if (c.point_wgs84) {
    const m = L.circleMarker([c.point_wgs84.lat, c.point_wgs84.lon], {
      radius: 7, color: "#c2410c", fillOpacity: 0.8,
    });
    layers.addLayer(m);
    if (!c.grid_code) map.setView([c.point_wgs84.lat, c.point_wgs84.lon], 15);
  }
}

async function load() {
  try {
    const c = await api(`/incidents/${id}`);
    $("case-id").textContent = String(c.case_id);
    $("case-state").textContent = c.state_name;
    document.body.dataset.state = c.state;
    $("facts").replaceChildren(
      ...fact("类别", c.category),
      ...fact("描述", c.description),
      ...fact("网格", c.grid_name ? `${c.grid_name}（${c.grid_code}）` : c.queue_name),
      ...fact("社区", c.community_name),
      ...fact("承办部门", c.departments.join("、")),
      ...fact("办理期限", when(c.due_at)),
      ...fact("提示", c.overdue ? "已超期" : c.soon_overdue ? "即将超期" : ""),
      ...fact("督办级别", c.level),
      ...fact("满意度", c.satisfaction),
    );
    $("actions").replaceChildren(
      ...c.actions.map((a) => {
        const b = el("button", { type: "button", "data-action": a }, ACTION_NAMES[a] || a);
        b.addEventListener("click", () => act(a));
        return b;
      }),
    );
    if (!c.actions.length) $("actions").append(el("p", { class: "small" }, "当前角色无可执行操作"));
    $("timeline").replaceChildren(
      ...c.events.map((e) =>
        el(
          "li",
          { "data-action": e.action },
          el("strong", {}, ACTION_NAMES[e.action] || e.action),
          ` · ${when(e.at)} · ${e.actor}（${e.role}）`,
          e.body && (e.body.reason || e.body.feedback)
            ? el("div", { class: "small" }, e.body.reason || e.body.feedback)
            : null,
        ),
      ),
    );
    await drawMap(c);
  } catch (err) {
    showError(err.message);
  }
  document.body.dataset.ready = "true";
}

load();
