// Arena: 2–6 models answer side by side (streamed), the user votes, names are revealed after the vote.
import { getJSON, postJSON, stream } from "./api.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./md.js";
import { errorText, fmt, h, toast, wireRendered } from "./ui.js";

export function mountArena(main, go) {
  let controller = null;
  const anon = h("input", { type: "radio", name: "arena-kind", value: "anonymous", checked: true, id: "arena-anon" });
  const pick = h("input", { type: "radio", name: "arena-kind", value: "pick", id: "arena-pick" });
  const n = h("select#arena-n", { "aria-label": t("arena.n") }, [2, 3, 4, 5, 6].map((k) => h("option", { value: k }, String(k))));
  n.value = "3";
  const modelBox = h("fieldset.model-pick", { hidden: true }, h("legend", {}, t("arena.pickHelp")));
  const maxTokens = h("input#arena-max-tokens", { type: "number", min: "1", max: "8192", placeholder: "auto",
    inputmode: "numeric", "aria-label": t("chat.maxTokens") });
  const prompt = h("textarea#arena-prompt", { rows: "3", placeholder: t("arena.prompt"), "aria-label": t("arena.prompt") });
  const start = h("button#arena-start.primary", { type: "submit" }, t("arena.start"));
  const board = h("div.arena-board", { "aria-live": "polite" });
  const votes = h("div.votes", { hidden: true });
  const status = h("p.muted.arena-status");
  const form = h("form.arena-form.stack", {},
    h("div.row.wrap", {},
      h("label.inline", {}, anon, t("arena.anonymous")), h("label.inline", {}, h("span", {}, t("arena.n")), n),
      h("label.inline", {}, pick, t("arena.pick")),
      h("label.inline", {}, h("span", {}, t("chat.maxTokens")), maxTokens)),
    modelBox, prompt, h("div.row.end", {}, start));
  main.replaceChildren(h("section.arena", {}, h("h1", {}, t("arena.title")), h("p.muted", {}, t("arena.intro")),
    form, status, board, votes));

  const toggle = () => { modelBox.hidden = !pick.checked; n.disabled = pick.checked; };
  anon.addEventListener("change", toggle);
  pick.addEventListener("change", toggle);
  getJSON("/v1/models").then((res) => {
    const ids = res.data.filter((m) => !m.id.startsWith("coe-")).map((m) => m.id);
    modelBox.append(...ids.map((id) => h("label.check", {}, h("input", { type: "checkbox", value: id }), ` ${id}`)));
  }).catch((e) => toast(errorText(e)));
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = prompt.value.trim();
    if (!text || controller) return;
    const body = { prompt: text, stream: true };
    if (pick.checked) {
      const chosen = [...modelBox.querySelectorAll("input:checked")].map((c) => c.value);
      if (chosen.length < 2 || chosen.length > 6) return toast(t("arena.pickHelp"));
      body.models = chosen;
    } else body.n = Number(n.value);
    if (Number(maxTokens.value) > 0) body.max_tokens = Number(maxTokens.value);
    await battle(body);
  });

  async function battle(body) {
    controller = new AbortController();
    start.disabled = true;
    votes.hidden = true;
    board.replaceChildren();
    status.textContent = "";
    const columns = new Map(); // stage id (model_a …) → {el, text, meta}
    let battleId = null;
    let ready = null;
    try {
      for await (const ev of stream("/v1/coe/arena/battles", body, controller.signal)) {
        if (ev.error) throw new Error(ev.error.message);
        if (ev.type === "battle_started") {
          battleId = ev.battle_id;
          if (ev.category) status.textContent = t("arena.category", { category: ev.category });
          ev.labels.forEach((label, i) => {
            const stage = `model_${label.split(" ").pop().toLowerCase()}`;
            const text = h("div.answer.markdown");
            const name = h("span.model-name", {}, ev.models ? ev.models[i] : "");
            const meta = h("footer.muted");
            const el = h("article.contestant", { dataset: { label: label.split(" ").pop() } },
              h("header", {}, h("strong", {}, label), name), text, meta);
            columns.set(stage, { el, text, meta, name, buf: "" });
            board.append(el);
          });
        } else if (ev.type === "token") {
          const c = columns.get(ev.stage);
          if (c) { c.buf += ev.text; c.text.textContent = c.buf; }
        } else if (ev.type === "stage_finished") {
          const c = columns.get(ev.stage);
          if (c) { c.text.innerHTML = renderMarkdown(ev.output); c.meta.textContent = `${ev.usage.output_tokens} tokens · ${fmt.ms(ev.latency_ms)}`; }
        } else if (ev.type === "stage_failed" && !ev.fallback_to) {
          const c = columns.get(ev.stage);
          if (c) c.meta.textContent = ev.error;
        } else if (ev.type === "battle_ready") ready = ev;
      }
    } catch (err) {
      if (err.name !== "AbortError") toast(errorText(err));
    } finally {
      controller = null;
      start.disabled = false;
    }
    for (const c of columns.values()) wireRendered(c.text);
    if (battleId && ready) showVotes(battleId, ready, columns);
  }

  function showVotes(battleId, ready, columns) {
    const comment = h("input#arena-comment", { type: "text", maxlength: "4000", placeholder: t("arena.comment"), "aria-label": t("arena.comment") });
    const cast = async (winner) => {
      try {
        const res = await postJSON(`/v1/coe/arena/battles/${battleId}/vote`, { winner, comment: comment.value || null });
        res.answers.forEach((a) => {
          const c = columns.get(`model_${a.label.split(" ").pop().toLowerCase()}`);
          if (c) { c.name.textContent = a.model; c.el.classList.toggle("winner", res.winner === String(a.position)); }
        });
        for (const b of votes.querySelectorAll("button")) b.disabled = true;
        votes.replaceChildren(h("p.success", { role: "status" }, t("arena.voted")),
          h("a.button", { href: "/leaderboard", "data-route": "/leaderboard", onclick: (e) => { e.preventDefault(); go("/leaderboard"); } }, t("arena.toLeaderboard")));
      } catch (err) { toast(errorText(err)); }
    };
    const letters = ready.answers.map((a) => a.label.split(" ").pop());
    votes.replaceChildren(
      h("div.row.wrap.vote-buttons", { role: "group", "aria-label": "vote" },
        ...letters.map((l) => h("button.vote", { type: "button", dataset: { vote: l }, onclick: () => cast(l) }, t("arena.vote.best", { label: `Model ${l}` }))),
        h("button.vote.ghost", { type: "button", dataset: { vote: "tie" }, onclick: () => cast("tie") }, t("arena.vote.tie")),
        h("button.vote.ghost", { type: "button", dataset: { vote: "bad" }, onclick: () => cast("bad") }, t("arena.vote.bad"))),
      comment);
    votes.hidden = false;
  }

  return () => controller?.abort();
}
