// gridgeo case console: shared helpers (same-origin API with the dispatcher's token,
// DOM built with textContent only — names and texts are never parsed as HTML).

export const $ = (id) => document.getElementById(id);

export const STATE_NAMES = {
  reported: "已上报",
  accepted: "已立案",
  rejected: "不予立案",
  dispatched: "处置中",
  returned: "已回弹",
  handled: "待核查",
  closed: "已结案",
  archived: "已归档",
  evaluated: "已评价",
};

export const ACTION_NAMES = {
  report: "上报",
  accept: "立案",
  reject: "不予立案",
  dispatch: "派遣",
  return: "回弹",
  designate: "指定",
  handle: "处置反馈",
  verify_pass: "核查通过",
  verify_fail: "核查不通过",
  archive: "归档",
  evaluate: "评价",
  supervise: "督办",
  explain: "超期说明",
};

const TOKEN_KEY = "gridgeo.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function bindToken(input) {
  input.value = token();
  input.addEventListener("change", () => sessionStorage.setItem(TOKEN_KEY, input.value.trim()));
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Call a same-origin path; JSON back, or an ApiError carrying the service's message. */
export async function api(path, { method = "GET", params = {}, body = undefined } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(url.pathname + url.search, {
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
    const detail = data && data.detail !== undefined ? data.detail : text;
    const msg = typeof detail === "string" ? detail : JSON.stringify(detail);
    throw new ApiError(resp.status, `HTTP ${resp.status}: ${msg}`);
  }
  return data;
}

export function el(tag, attrs = {}, ...children) {
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

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

export function when(value) {
  if (!value) return "—";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString("zh-CN", { hour12: false });
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

/** A bar chart (one bar per label) as plain SVG. */
export function barChart(rows, { width = 420, barH = 18 } = {}) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const root = svg("svg", { width, height: rows.length * (barH + 6) + 4, class: "chart bars" });
  rows.forEach((r, i) => {
    const y = i * (barH + 6) + 2;
    const w = Math.max(1, ((width - 190) * r.value) / max);
    root.append(svg("text", { x: 0, y: y + barH - 5, class: "label" }, r.label));
    root.append(svg("rect", { x: 150, y, width: w, height: barH, class: "bar" }));
    root.append(svg("text", { x: 154 + w, y: y + barH - 5, class: "value" }, String(r.value)));
  });
  return root;
}

/** A line chart (one point per period) as plain SVG. */
export function lineChart(rows, { width = 420, height = 140 } = {}) {
  const root = svg("svg", { width, height, class: "chart line" });
  if (!rows.length) return root;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const step = rows.length > 1 ? (width - 40) / (rows.length - 1) : 0;
  const pts = rows.map((r, i) => [20 + i * step, height - 24 - ((height - 40) * r.value) / max]);
  root.append(svg("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: "series" }));
  pts.forEach(([x, y], i) => {
    root.append(svg("circle", { cx: x, cy: y, r: 3, class: "dot" }));
    root.append(svg("text", { x, y: height - 6, class: "label", "text-anchor": "middle" }, rows[i].label.slice(5)));
  });
  return root;
}
