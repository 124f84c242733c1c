// The single-page app: client-side routes, language switch, API key dialog.
import { auth, getJSON } from "./api.js";
import { mountArena } from "./arena.js";
import { mountChat } from "./chat.js";
import { getLang, setLang, t, translate } from "./i18n.js";
import { mountLeaderboard } from "./leaderboard.js";
import { mountRun, mountRuns } from "./runs.js";

const main = document.getElementById("main");
let cleanup = null;
let info = { categories: [], auth_required: false };

function go(path, { replace = false } = {}) {
  if (path !== location.pathname) history[replace ? "replaceState" : "pushState"]({}, "", path);
  render();
}

function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  for (const a of document.querySelectorAll("nav a")) {
    const route = a.dataset.route;
    const active = route === "/" ? path === "/" || path === "/chat" : path.startsWith(route);
    if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const run = path.match(/^\/runs\/([\w-]+)$/);
  if (path === "/arena") cleanup = mountArena(main, go);
  else if (path === "/leaderboard") mountLeaderboard(main, go, info.categories);
  else if (run) mountRun(main, go, run[1]);
  else if (path === "/runs") mountRuns(main, go);
  else cleanup = mountChat(main, go);
  document.title = `CoE · ${t(`nav.${path === "/" || path === "/chat" ? "chat" : path.split("/")[1] || "chat"}`)}`;
}

function applyLang() {
  translate();
  document.getElementById("lang-button").textContent = getLang() === "zh" ? "English" : "中文";
}

function askKey(message) {
  const dialog = document.getElementById("key-dialog");
  if (dialog.open) return;
  const input = document.getElementById("key-input");
  input.value = auth.key;
  if (message) dialog.querySelector("p").textContent = `${message}. ${t("key.help")}`;
  dialog.showModal();
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "save") { auth.key = input.value.trim(); render(); }
  }, { once: true });
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-route]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.dataset.route);
});
window.addEventListener("popstate", render);
document.getElementById("lang-button").addEventListener("click", () => {
  setLang(getLang() === "zh" ? "en" : "zh");
  applyLang();
  render();
});
document.getElementById("key-button").addEventListener("click", () => askKey());
document.getElementById("mindmap-close").addEventListener("click", () => document.getElementById("mindmap-dialog").close());
auth.onMissing = askKey;

setLang(getLang());
applyLang();
getJSON("/v1/coe/info").then((res) => {
  info = res;
  document.getElementById("key-button").hidden = !res.auth_required;
  if (res.auth_required && !auth.key) askKey();
  if (location.pathname === "/leaderboard") render();
}).catch(() => {});
render();
