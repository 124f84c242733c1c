// Chat: mode and team pickers, live stage cards, markdown answers with citations, history in localStorage.
import { getJSON, stream } from "./api.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./md.js";
import { errorText, fmt, h, openMindmap, toast, wireRendered } from "./ui.js";

const MODES = ["standard", "concise", "deep", "collaborate", "collaborate-5", "auto", "moa"];
const MODE_MODEL = { auto: "coe-auto", concise: "coe-concise", standard: "coe-standard", deep: "coe-deep",
  collaborate: "coe-collab", "collaborate-5": "coe-collab-5", moa: "coe-moa" };
const STORE = "coe.conversations";
const REFS_TAIL = /\n+(?:References|参考资料)[:：]\n(?:\[\d+\][^\n]*(?:\n|$))+\s*$/;

const load = () => { try { return JSON.parse(localStorage.getItem(STORE)) || []; } catch { return []; } };
const save = (list) => localStorage.setItem(STORE, JSON.stringify(list.slice(0, 50)));

export function mountChat(main) {
  let conversations = load();
  let current = null; // the open conversation
  let controller = null; // AbortController of the running request
  let models = [];

  const modeSelect = h("select#mode", { "aria-label": t("chat.mode") },
    MODES.map((m) => h("option", { value: m }, t(`mode.${m}`))));
  modeSelect.value = localStorage.getItem("coe.mode") || "standard";
  modeSelect.addEventListener("change", () => localStorage.setItem("coe.mode", modeSelect.value));
  const teamList = h("div.team-list", { role: "group", "aria-label": t("chat.team") });
  const teamSummary = h("summary", {}, `${t("chat.team")}: ${t("chat.team.auto")}`);
  const team = h("details.team", {}, teamSummary, h("p.hint", {}, t("chat.team.help")), teamList);
  const maxTokens = h("input#max-tokens", { type: "number", min: "1", max: "8192",
    placeholder: "auto", inputmode: "numeric", "aria-label": t("chat.maxTokens") });
  maxTokens.value = localStorage.getItem("coe.maxTokens") || "";
  maxTokens.addEventListener("change", () => localStorage.setItem("coe.maxTokens", maxTokens.value));
  const input = h("textarea#prompt", { rows: "2", placeholder: t("chat.placeholder"),
    "aria-label": t("chat.placeholder") });
  const sendBtn = h("button#send.primary", { type: "submit" }, t("chat.send"));
  const stopBtn = h("button#stop.danger", { type: "button", hidden: true,
    onclick: () => controller?.abort() }, t("chat.stop"));
  const form = h("form.composer", {},
    h("div.controls", {}, h("label.inline", {}, h("span", {}, t("chat.mode")), modeSelect), team,
      h("label.inline", {}, h("span", {}, t("chat.maxTokens")), maxTokens)),
    h("div.row.input-row", {}, input, sendBtn, stopBtn));
  const messages = h("div.messages", { "aria-live": "polite", "aria-busy": "false" });
  const historyList = h("ul.history-list");
  const aside = h("aside.history", { "aria-label": t("chat.history") },
    h("button.primary.new-chat", { type: "button", onclick: () => open(null) }, t("chat.new")),
    h("h2.sr", {}, t("chat.history")), historyList);
  main.replaceChildren(h("div.chat", {}, aside, h("section.conversation", {}, messages, form)));

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = "";
    ask(text);
  });

  getJSON("/v1/models").then((res) => {
    models = res.data.filter((m) => !m.id.startsWith("coe-")).map((m) => m.id);
    teamList.replaceChildren(...models.map((id) => h("label.check", {},
      h("input", { type: "checkbox", value: id, onchange: updateTeam }), ` ${id}`)));
  }).catch((e) => toast(errorText(e)));

  let order = []; // the team in the order the models were picked: the first fills the first role
  function chosenTeam() { return order.filter((id) => teamList.querySelector(`input[value="${CSS.escape(id)}"]`)?.checked); }
  function updateTeam(e) {
    const box = e?.target;
    if (box) order = box.checked ? [...order.filter((id) => id !== box.value), box.value] : order.filter((id) => id !== box.value);
    const picked = chosenTeam();
    teamSummary.textContent = `${t("chat.team")}: ${picked.length ? picked.map(fmt.short).join(", ") : t("chat.team.auto")}`;
  }

  function renderHistory() {
    historyList.replaceChildren(...(conversations.length ? conversations.map((c) => h("li", {},
      h("button.link" + (current && c.id === current.id ? ".active" : ""), { type: "button", onclick: () => open(c.id),
        title: c.title }, c.title),
      h("button.icon", { type: "button", "aria-label": t("chat.delete"), title: t("chat.delete"),
        onclick: () => remove(c.id) }, "×"))) : [h("li.muted", {}, t("chat.empty"))]));
  }

  function open(id) {
    if (controller) controller.abort();
    current = conversations.find((c) => c.id === id) || null;
    messages.replaceChildren();
    if (!current) messages.append(h("p.welcome", {}, t("chat.welcome")));
    else for (const m of current.messages) messages.append(m.role === "user" ? userView(m) : assistantView(m).el);
    renderHistory();
    input.focus();
  }

  function remove(id) {
    conversations = conversations.filter((c) => c.id !== id);
    save(conversations);
    if (current && current.id === id) open(null); else renderHistory();
  }

  function persist() {
    conversations = [current, ...conversations.filter((c) => c.id !== current.id)];
    current.updated = Date.now();
    save(conversations);
    renderHistory();
  }

  function userView(m) { return h("article.msg.user", {}, h("div.bubble", {}, m.content)); }

  async function ask(text, { regenerate = false } = {}) {
    if (!current) {
      current = { id: crypto.randomUUID?.() ?? String(Date.now()), title: text.slice(0, 60), messages: [] };
      messages.replaceChildren();
    }
    if (!regenerate) {
      current.messages.push({ role: "user", content: text });
      messages.append(userView({ content: text }));
    }
    persist();
    const mode = modeSelect.value;
    const msg = { role: "assistant", content: "", mode, stages: [], references: [], followups: [] };
    const view = assistantView(msg, true);
    messages.append(view.el);
    view.el.scrollIntoView({ block: "end" });
    const history = current.messages.filter((m) => m.content && !m.error)
      .map((m) => ({ role: m.role, content: m.content }));
    const body = { model: MODE_MODEL[mode], messages: history, stream: true };
    const picked = chosenTeam();
    if (picked.length) body.coe = { team: picked };
    if (Number(maxTokens.value) > 0) body.max_tokens = Number(maxTokens.value);
    controller = new AbortController();
    sendBtn.hidden = true;
    stopBtn.hidden = false;
    messages.setAttribute("aria-busy", "true");
    const started = performance.now();
    try {
      for await (const chunk of stream("/v1/chat/completions", body, controller.signal)) view.apply(chunk);
    } catch (e) {
      if (e.name === "AbortError") msg.stopped = true; else msg.error = errorText(e);
    } finally {
      controller = null;
      sendBtn.hidden = false;
      stopBtn.hidden = true;
      messages.setAttribute("aria-busy", "false");
      msg.latency_ms = performance.now() - started;
      view.finish();
      current.messages.push(msg);
      persist();
      input.focus();
    }
  }

  function assistantView(msg, live = false) {
    const cards = h("div.cards");
    const summary = h("summary");
    const stagesBox = h("details.stages", { open: live }, summary, cards);
    const answer = h("div.answer.markdown");
    const refs = h("aside.refs", { hidden: true }, h("h3", {}, t("chat.references")), h("ol"));
    const followups = h("div.followups", { hidden: true });
    const meta = h("div.meta");
    const actions = h("div.actions", { hidden: live });
    const notes = h("div.notes");
    const el = h("article.msg.assistant", { dataset: { mode: msg.mode } }, meta, stagesBox, answer, notes, refs, followups, actions);
    const byStage = new Map();
    let finalStage = null;
    let pending = 0;
    wireRendered(answer, (n) => {
      refs.hidden = false;
      const item = refs.querySelector(`[data-n="${n}"]`);
      item?.scrollIntoView({ block: "nearest" });
      item?.classList.add("flash");
      setTimeout(() => item?.classList.remove("flash"), 1200);
      item?.focus();
    });

    const paint = () => {
      pending = 0;
      const shown = msg.references.length ? msg.content.replace(REFS_TAIL, "") : msg.content;
      answer.innerHTML = renderMarkdown(shown, { cite: msg.references.length > 0 });
      for (const [stage, card] of byStage) {
        const s = msg.stages.find((x) => x.stage === stage);
        if (s && s.status === "running" && stage !== finalStage) {
          card.text.textContent = s.text;
          card.text.scrollTop = card.text.scrollHeight;
        }
      }
    };
    const schedule = () => { if (!pending) pending = requestAnimationFrame(paint); };

    function card(s) {
      const status = h("span.status", {}, t(`chat.stage.${s.status}`));
      const text = h("div.card-text");
      const foot = h("footer");
      const node = h("div.card", { dataset: { stage: s.stage, status: s.status }, tabindex: "0" },
        h("header", {}, h("span.role", {}, s.role), h("span.model", { title: s.model }, fmt.short(s.model)), status),
        text, foot);
      cards.append(node);
      const c = { node, text, foot, status };
      byStage.set(s.stage, c);
      return c;
    }
    function updateCard(s) {
      const c = byStage.get(s.stage) || card(s);
      c.node.dataset.status = s.status;
      c.status.textContent = t(`chat.stage.${s.status}`);
      c.node.querySelector(".model").textContent = fmt.short(s.model);
      c.node.querySelector(".model").title = s.model;
      if (s.stage === finalStage && s.status === "running") c.text.textContent = t("chat.stage.final");
      else if (s.status !== "running") c.text.innerHTML = renderMarkdown(s.stage === finalStage ? "→ " + t("runs.answer") : s.text);
      else c.text.textContent = s.text;
      c.text.classList.toggle("markdown", s.status !== "running");
      if (s.error) c.foot.textContent = s.error;
      else if (s.usage) c.foot.textContent = `${(s.usage.input_tokens ?? 0) + (s.usage.output_tokens ?? 0)} tokens · ${fmt.ms(s.latency_ms)} · ${fmt.usd(s.cost_usd)}`;
    }

    function apply(chunk) {
      if (chunk.error) { msg.error = chunk.error.message; return; }
      const coe = chunk.coe || {};
      const delta = chunk.choices?.[0]?.delta || {};
      switch (coe.event) {
        case "run_started":
          msg.run_id = coe.run_id; finalStage = msg.final = coe.final_stage; msg.team = coe.team;
          meta.textContent = `${t(`mode.${msg.mode}`)} · ${coe.run_id.slice(0, 8)}`;
          return;
        case "stage_started": {
          const s = { stage: coe.stage, role: coe.role, model: coe.model, status: "running", text: "" };
          const old = msg.stages.findIndex((x) => x.stage === coe.stage);
          if (old >= 0) msg.stages[old] = { ...msg.stages[old], ...s, text: msg.stages[old].text }; else msg.stages.push(s);
          updateCard(msg.stages.find((x) => x.stage === coe.stage));
          return;
        }
        case "stage_finished": case "stage_failed": {
          const s = msg.stages.find((x) => x.stage === coe.stage);
          if (!s) return;
          if (coe.event === "stage_finished") Object.assign(s, { status: "ok", model: coe.model, usage: coe.usage, cost_usd: coe.cost_usd, latency_ms: coe.latency_ms, error: null });
          else if (coe.fallback_to) Object.assign(s, { status: "running", error: t("chat.fallback", { error: coe.error, model: coe.fallback_to }), text: "" });
          else Object.assign(s, { status: coe.skipped ? "skipped" : "failed", error: coe.error });
          updateCard(s);
          return;
        }
        case "references":
          msg.content = coe.answer; msg.references = coe.references || []; msg.followups = coe.followups || [];
          schedule();
          return;
        case "run_finished": return;
        default:
          if (coe.stage === undefined) return;
          if (coe.stage === finalStage && delta.content) { msg.content += delta.content; schedule(); return; }
          const s = msg.stages.find((x) => x.stage === coe.stage);
          if (s && (delta.reasoning_content || delta.content)) { s.text += delta.reasoning_content || delta.content; schedule(); }
      }
    }

    function finish() {
      cancelAnimationFrame(pending);
      const stages = msg.stages;
      for (const s of stages) {
        if (s.status !== "running") continue;
        s.status = msg.stopped ? "stopped" : "failed";
        updateCard(s);
      }
      paint();
      const tokens = stages.reduce((n, s) => n + (s.usage ? (s.usage.input_tokens ?? 0) + (s.usage.output_tokens ?? 0) : 0), 0);
      const cost = stages.reduce((n, s) => n + (s.cost_usd || 0), 0);
      const names = [...new Set(stages.map((s) => fmt.short(s.model)))].join(", ");
      summary.textContent = t(stages.length === 1 ? "chat.stage1" : "chat.stages", { n: stages.length, models: names, tokens, latency: fmt.ms(msg.latency_ms), cost: fmt.usd(cost) });
      stagesBox.open = false;
      if (!stages.length) stagesBox.hidden = true;
      notes.replaceChildren(msg.error ? h("p.error", { role: "alert" }, msg.error) : "",
        msg.stopped ? h("p.muted", {}, t("chat.stopped")) : "");
      const list = refs.querySelector("ol");
      list.replaceChildren(...msg.references.map((r) => h("li", { dataset: { n: r.n }, id: `ref-${msg.run_id}-${r.n}`, tabindex: "-1", value: r.n },
        h("strong", {}, r.title || r.source), h("div.source", {}, r.source), h("div.snippet", {}, r.snippet))));
      refs.hidden = !msg.references.length;
      followups.hidden = !msg.followups.length;
      followups.replaceChildren(h("span.muted", {}, t("chat.followups")), ...msg.followups.map((q) =>
        h("button.chip", { type: "button", onclick: () => { input.value = q; input.focus(); } }, q)));
      actions.hidden = false;
      actions.replaceChildren(
        h("button.ghost", { type: "button", onclick: async (e) => {
          await navigator.clipboard?.writeText(msg.content).catch(() => {});
          e.target.textContent = t("chat.copied");
        } }, t("chat.copy")),
        h("button.ghost.regenerate", { type: "button", onclick: () => regenerate(el) }, t("chat.regenerate")),
        msg.run_id && msg.content ? h("button.ghost.open-mindmap", { type: "button", onclick: () => openMindmap(msg.run_id) }, t("mindmap.open")) : null,
        msg.run_id ? h("a.button.ghost", { href: `/runs/${msg.run_id}`, "data-route": `/runs/${msg.run_id}` }, t("chat.trace")) : null);
    }

    if (!live) {
      finalStage = msg.final;
      for (const s of msg.stages) updateCard(s);
      if (msg.run_id) meta.textContent = `${t(`mode.${msg.mode}`)} · ${msg.run_id.slice(0, 8)}`;
      finish();
    }
    return { el, apply, finish };
  }

  function regenerate(el) {
    if (controller || !current) return;
    const idx = [...messages.children].indexOf(el);
    const last = current.messages.length - 1;
    if (idx !== messages.children.length - 1 || current.messages[last]?.role !== "assistant") return toast(t("chat.regenerate") + ": last answer only");
    current.messages.pop();
    el.remove();
    const prompt = current.messages[current.messages.length - 1]?.content;
    if (prompt) ask(prompt, { regenerate: true });
  }

  open(null);
  return () => controller?.abort();
}
