// Small DOM helpers shared by the views.
import { getBlob } from "./api.js";
import { t } from "./i18n.js";

/** h("div.card", {attrs}, ...children): create an element; strings become text nodes (never HTML). */
export function h(tag, attrs = {}, ...children) {
  const [head, ...classes] = tag.split(".");
  const [name, id] = head.split("#");
  const el = document.createElement(name || "div");
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function toast(message, ms = 3500) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, ms);
}

export function errorText(e) {
  if (e && e.code === "network") return t("error.network");
  return t("error.generic", { message: e?.message ?? String(e) });
}

export const fmt = {
  ms: (v) => (v == null ? "–" : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`),
  usd: (v) => (!v ? "$0" : v < 0.01 ? `$${v.toFixed(5)}` : `$${v.toFixed(3)}`),
  date: (iso) => new Date(iso).toLocaleString(),
  short: (model) => String(model ?? "").replace(/^embedded\//, ""),
};

/** Copy buttons inside rendered code blocks, and citation buttons that open the references panel. */
export function wireRendered(root, onCite) {
  root.addEventListener("click", async (e) => {
    const copy = e.target.closest(".copy-code");
    if (copy) {
      await navigator.clipboard?.writeText(copy.closest(".code").querySelector("code").textContent).catch(() => {});
      copy.textContent = t("chat.copied");
      setTimeout(() => { copy.textContent = "copy"; }, 1500);
    }
    const cite = e.target.closest(".cite");
    if (cite && onCite) onCite(Number(cite.dataset.ref));
  });
}

/** Show a run's mind map (SVG from the server, fetched with the API key) in the dialog. */
export async function openMindmap(runId) {
  const dialog = document.getElementById("mindmap-dialog");
  const body = document.getElementById("mindmap-body");
  body.replaceChildren(h("p", {}, t("loading")));
  dialog.showModal();
  try {
    const blob = await getBlob(`/v1/coe/runs/${encodeURIComponent(runId)}/mindmap?format=svg`);
    const url = URL.createObjectURL(blob);
    body.replaceChildren(h("img.mindmap", { src: url, alt: t("mindmap.title") }));
    const link = document.getElementById("mindmap-download");
    link.href = url;
    link.download = `mindmap-${runId.slice(0, 8)}.svg`;
  } catch (e) {
    body.replaceChildren(h("p.error", {}, errorText(e)));
  }
}
