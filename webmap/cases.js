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

async function charts() {
  const weeks = await api("/incidents/stats", { params: { by: "", period: "week" } });
  $("chart-weeks").replaceChildren(
    lineChart(weeks.rows.map((r) => ({ label: r.period, value: r.cases }))),
  );
  const deps = await api("/incidents/stats", { params: { by: "department" } });
  $("chart-departments").replaceChildren(
    barChart(deps.rows.map((r) => ({ label: String(r.department), value: r.cases }))),
  );
}

$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  load();
});
load();
