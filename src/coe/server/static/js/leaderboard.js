// Leaderboard: Bradley–Terry ratings with bootstrap intervals (table + SVG plot), votes, win-rate matrix.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { errorText, fmt, h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const s = (tag, attrs = {}, text) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
};

function plot(rows) {
  const W = 640, rowH = 28, left = 190, right = 20, top = 24;
  const H = top + rows.length * rowH + 28;
  const lo = Math.min(...rows.map((r) => r.lower)) - 20;
  const hi = Math.max(...rows.map((r) => r.upper)) + 20;
  const x = (v) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "lb-plot", role: "img", "aria-label": t("lb.plot") });
  svg.append(s("title", {}, t("lb.plot")));
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const v = lo + ((hi - lo) * i) / ticks;
    svg.append(s("line", { x1: x(v), x2: x(v), y1: top - 6, y2: H - 24, class: "grid" }));
    svg.append(s("text", { x: x(v), y: H - 8, "text-anchor": "middle", class: "tick" }, Math.round(v)));
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    svg.append(s("text", { x: left - 10, y: y + 4, "text-anchor": "end", class: "label" }, fmt.short(r.model)));
    svg.append(s("line", { x1: x(r.lower), x2: x(r.upper), y1: y, y2: y, class: "interval" }));
    for (const v of [r.lower, r.upper]) svg.append(s("line", { x1: x(v), x2: x(v), y1: y - 6, y2: y + 6, class: "interval" }));
    svg.append(s("circle", { cx: x(r.rating), cy: y, r: 5, class: "point" }));
  });
  return svg;
}

function matrix(models, rates) {
  const head = h("tr", {}, h("th", { scope: "col" }, ""), ...models.map((m) => h("th", { scope: "col", title: m }, fmt.short(m))));
  const rows = models.map((a) => h("tr", {}, h("th", { scope: "row", title: a }, fmt.short(a)), ...models.map((b) => {
    if (a === b) return h("td.na", {}, "—");
    const v = rates[a]?.[b];
    const td = h("td", { title: `${a} vs ${b}` }, v == null ? "·" : `${Math.round(v * 100)}%`);
    if (v != null) td.style.background = `hsla(${Math.round(v * 120)}, 70%, 50%, 0.35)`;
    return td;
  })));
  return h("div.table-wrap", {}, h("table.matrix", {}, h("caption", {}, t("lb.winrate")), h("thead", {}, head), h("tbody", {}, rows)));
}

export function mountLeaderboard(main, _go, categories) {
  const select = h("select#lb-category", { "aria-label": t("lb.category") },
    h("option", { value: "" }, t("lb.overall")), ...categories.map((c) => h("option", { value: c }, c)));
  const body = h("div.lb-body", { "aria-live": "polite" });
  main.replaceChildren(h("section.leaderboard", {}, h("h1", {}, t("lb.title")),
    h("label.inline", {}, h("span", {}, t("lb.category")), select), body));
  let seq = 0;
  async function load() {
    const mine = ++seq;
    body.replaceChildren(h("p.muted", {}, t("loading")));
    try {
      const q = select.value ? `?category=${encodeURIComponent(select.value)}` : "";
      const lb = await getJSON(`/v1/coe/arena/leaderboard${q}`);
      if (mine !== seq) return;
      if (!lb.models.length) return body.replaceChildren(h("p.muted.lb-empty", {}, t("lb.empty")), h("p.lb-votes", {}, t("lb.votes", { n: lb.votes })));
      const table = h("table.lb-table", {},
        h("thead", {}, h("tr", {}, ...["lb.rank", "lb.model", "lb.rating", "lb.interval", "lb.battles"].map((k) => h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, lb.models.map((r) => h("tr", {}, h("td", {}, r.rank), h("td", { title: r.model }, r.model),
          h("td.num", {}, r.rating.toFixed(0)), h("td.num", {}, `${r.lower.toFixed(0)} – ${r.upper.toFixed(0)}`), h("td.num", {}, r.battles)))));
      body.replaceChildren(h("p.lb-votes", {}, t("lb.votes", { n: lb.votes })), h("div.table-wrap", {}, table),
        h("figure", {}, plot(lb.models), h("figcaption.muted", {}, t("lb.plot"))), matrix(lb.models.map((r) => r.model), lb.win_rate));
    } catch (e) {
      body.replaceChildren(h("p.error", { role: "alert" }, errorText(e)));
    }
  }
  select.addEventListener("change", load);
  load();
}
