// Run history and the trace viewer: every stage's prompt, output, model, usage, cost, latency and errors.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./md.js";
import { errorText, fmt, h, openMindmap, wireRendered } from "./ui.js";

export function mountRuns(main, go) {
  const tbody = h("tbody");
  const more = h("button.ghost", { type: "button" }, t("runs.more"));
  const status = h("p.muted");
  main.replaceChildren(h("section.runs", {}, h("h1", {}, t("runs.title")),
    h("div.table-wrap", {}, h("table.runs-table", {},
      h("thead", {}, h("tr", {}, ...["runs.when", "runs.mode", "runs.question", "runs.status", "runs.latency", "runs.cost"]
        .map((k) => h("th", { scope: "col" }, t(k))))), tbody)), status, more));
  let offset = 0;
  async function page() {
    try {
      const res = await getJSON(`/v1/coe/runs?limit=50&offset=${offset}`);
      offset += res.data.length;
      more.hidden = res.data.length < 50;
      if (!offset) status.textContent = t("runs.empty");
      tbody.append(...res.data.map((r) => h("tr", { dataset: { run: r.id } },
        h("td", {}, fmt.date(r.created_at)), h("td", {}, r.mode),
        h("td", {}, h("a", { href: `/runs/${r.id}`, onclick: (e) => { e.preventDefault(); go(`/runs/${r.id}`); } }, r.question)),
        h("td", {}, h("span.badge", { dataset: { status: r.status } }, r.status)),
        h("td.num", {}, fmt.ms(r.latency_ms)), h("td.num", {}, fmt.usd(r.cost_usd)))));
    } catch (e) {
      status.textContent = errorText(e);
      more.hidden = true;
    }
  }
  more.addEventListener("click", page);
  page();
}

export async function mountRun(main, go, runId) {
  main.replaceChildren(h("p.muted", {}, t("loading")));
  let run;
  try {
    run = await getJSON(`/v1/coe/runs/${encodeURIComponent(runId)}`);
  } catch (e) {
    main.replaceChildren(h("p.error", { role: "alert" }, errorText(e)));
    return;
  }
  const back = h("a", { href: "/runs", onclick: (e) => { e.preventDefault(); go("/runs"); } }, `← ${t("runs.back")}`);
  const usage = run.usage || {};
  const head = h("header.run-head", {}, back, h("h1", {}, run.question),
    h("p.muted", {}, `${run.mode} · ${run.status} · ${fmt.date(run.created_at)} · ${fmt.ms(run.latency_ms)} · ` +
      `${t("runs.usage", { in: usage.input_tokens ?? 0, out: usage.output_tokens ?? 0 })} · ${fmt.usd(run.cost?.input_usd + run.cost?.output_usd)}`),
    run.answer ? h("button.ghost.open-mindmap", { type: "button", onclick: () => openMindmap(run.id) }, t("mindmap.open")) : null);
  const stages = run.stages.map((s) => {
    const cost = (s.cost?.input_usd ?? 0) + (s.cost?.output_usd ?? 0);
    const out = h("div.markdown");
    out.innerHTML = renderMarkdown(s.output || "");
    wireRendered(out);
    return h("article.trace-stage", { dataset: { status: s.status } },
      h("header", {}, h("strong", {}, `${s.seq}. ${s.stage}`), h("span.role", {}, s.role), h("span.model", {}, s.model),
        h("span.badge", { dataset: { status: s.status } }, s.status)),
      h("p.muted", {}, `${t("runs.usage", { in: s.usage?.input_tokens ?? 0, out: s.usage?.output_tokens ?? 0 })} · ${fmt.ms(s.latency_ms)} · ${fmt.usd(cost)}`),
      s.error ? h("p.error", {}, `${t("runs.error")}: ${s.error}`) : null,
      h("details", {}, h("summary", {}, t("runs.prompt")), h("pre.prompt", {}, s.prompt)),
      h("details", { open: true }, h("summary", {}, t("runs.output")), out),
      s.attempts?.length ? h("details", {}, h("summary", {}, `${t("runs.attempts")} (${s.attempts.length})`),
        h("pre", {}, JSON.stringify(s.attempts, null, 2))) : null);
  });
  const answer = h("div.markdown");
  answer.innerHTML = renderMarkdown(run.answer || run.error || "");
  main.replaceChildren(h("section.run", {}, head, ...stages,
    h("section.final", {}, h("h2", {}, t("runs.answer")), answer)));
}
