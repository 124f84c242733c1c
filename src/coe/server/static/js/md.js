// Markdown → HTML for model answers. Safe by construction: every piece of text is escaped before any tag is
// added, and links only keep http(s), mailto and same-site URLs. Citation markers [n] become buttons.

export const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const KEYWORDS = new Set((
  "and as assert async await break case catch class const continue def default del do elif else enum except export " +
  "extends false final finally fn for from func function go if impl import in interface is lambda let loop match " +
  "mod mut new nil none not null or package pass pub raise return self static struct super switch this throw true " +
  "try type typeof use var void while with yield True False None select from where insert update delete create " +
  "table join on group order by limit int float str bool string char long double echo fi then done esac"
).split(" "));

const TOKEN = new RegExp([
  String.raw`(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/|--[^\n]*)`,        // 1 comment
  String.raw`("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\`(?:\\.|[^\`\\])*\`)`, // 2 string
  String.raw`(\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b|\b0x[0-9a-f]+\b)`,      // 3 number
  String.raw`([A-Za-z_][A-Za-z0-9_]*)`,                               // 4 word
].join("|"), "gi");

/** Light syntax highlighting that works for most languages: comments, strings, numbers, keywords. */
export function highlight(code, lang = "") {
  const hashComments = !/^(c|cpp|c\+\+|java|js|javascript|ts|typescript|go|rust|css|json)$/i.test(lang);
  let out = "";
  let last = 0;
  for (const m of code.matchAll(TOKEN)) {
    out += esc(code.slice(last, m.index));
    last = m.index + m[0].length;
    let cls = null;
    if (m[1] !== undefined) {
      if (m[1].startsWith("#") && !hashComments) { out += esc(m[1]); continue; }
      if (m[1].startsWith("--") && !/^(sql|lua|haskell|hs)$/i.test(lang)) { out += esc(m[1]); continue; }
      cls = "c";
    } else if (m[2] !== undefined) cls = "s";
    else if (m[3] !== undefined) cls = "n";
    else if (m[4] !== undefined && KEYWORDS.has(m[4])) cls = "k";
    out += cls ? `<span class="hl-${cls}">${esc(m[0])}</span>` : esc(m[0]);
  }
  return out + esc(code.slice(last));
}

function safeUrl(url) {
  const u = url.trim();
  if (/^(https?:|mailto:)/i.test(u) || /^\/(?!\/)/.test(u) || /^#/.test(u)) return u;
  return null;
}

function inline(text, opts) {
  const codes = [];
  let s = text.replace(/`([^`\n]+)`/g, (_, c) => `\u0000${codes.push(c) - 1}\u0000`);
  s = esc(s);
  s = s.replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, (m, label, url) => {
    const href = safeUrl(url.replace(/&amp;/g, "&"));
    return href ? `<a href="${esc(href)}" rel="noopener noreferrer" target="_blank">${label}</a>` : label;
  });
  s = s.replace(/(^|[\s(（])(https?:\/\/[^\s<)）]+)/g,
    (m, pre, url) => `${pre}<a href="${url}" rel="noopener noreferrer" target="_blank">${url}</a>`);
  s = s.replace(/\*\*([^*\n]+)\*\*|__([^_\n]+)__/g, (m, a, b) => `<strong>${a ?? b}</strong>`);
  s = s.replace(/(^|[^*\w])\*([^*\n]+)\*(?!\w)/g, "$1<em>$2</em>");
  s = s.replace(/~~([^~\n]+)~~/g, "<del>$1</del>");
  if (opts.cite) {
    s = s.replace(/\[(\d{1,3}(?:\s*[,，]\s*\d{1,3})*)\]|【(\d{1,3})】/g, (m, a, b) => (a ?? b).split(/\s*[,，]\s*/)
      .map((n) => `<button type="button" class="cite" data-ref="${n}" aria-label="reference ${n}">${n}</button>`)
      .join(""));
  }
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${esc(codes[Number(i)])}</code>`);
}

function table(rows, opts) {
  const cells = (r) => r.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
  const head = cells(rows[0]);
  const body = rows.slice(2).map(cells);
  return `<div class="table-wrap"><table><thead><tr>${head.map((c) => `<th>${inline(c, opts)}</th>`).join("")}</tr></thead>` +
    `<tbody>${body.map((r) => `<tr>${r.map((c) => `<td>${inline(c, opts)}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`;
}

function list(lines, opts) {
  // lines: [{indent, ordered, text}] → nested lists by indentation
  let html = "";
  const stack = [];
  for (const item of lines) {
    while (stack.length && item.indent < stack[stack.length - 1].indent) html += `</li></${stack.pop().tag}>`;
    const top = stack[stack.length - 1];
    if (!top || item.indent > top.indent) {
      const tag = item.ordered ? "ol" : "ul";
      stack.push({ indent: item.indent, tag });
      html += `<${tag}><li>`;
    } else {
      html += "</li><li>";
    }
    html += inline(item.text, opts);
  }
  while (stack.length) html += `</li></${stack.pop().tag}>`;
  return html;
}

/** Render markdown to an HTML string. opts.cite turns [n] markers into reference buttons. */
export function renderMarkdown(src, opts = {}) {
  const lines = String(src ?? "").replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let para = [];
  const flush = () => { if (para.length) out.push(`<p>${para.map((l) => inline(l, opts)).join("<br>")}</p>`); para = []; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+#.-]*)/);
    if (fence) {
      flush();
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
      const lang = fence[2] || "";
      out.push(`<div class="code"><div class="code-bar"><span>${esc(lang)}</span>` +
        `<button type="button" class="copy-code">copy</button></div>` +
        `<pre><code data-lang="${esc(lang)}">${highlight(code.join("\n"), lang)}</code></pre></div>`);
      continue;
    }
    const h = line.match(/^(#{1,6})\s+(.*)$/);
    if (h) { flush(); const n = Math.min(6, h[1].length + 1); out.push(`<h${n}>${inline(h[2], opts)}</h${n}>`); continue; }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); out.push("<hr>"); continue; }
    if (/^\s*\|.*\|\s*$/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1])) {
      flush();
      const rows = [];
      while (i < lines.length && /^\s*\|.*\|?\s*$/.test(lines[i])) rows.push(lines[i++]);
      i--;
      out.push(table(rows, opts));
      continue;
    }
    if (/^\s*>/.test(line)) {
      flush();
      const quote = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quote.push(lines[i++].replace(/^\s*>\s?/, ""));
      i--;
      out.push(`<blockquote>${renderMarkdown(quote.join("\n"), opts)}</blockquote>`);
      continue;
    }
    const li = line.match(/^(\s*)([-*+]|\d{1,3}[.)])\s+(.*)$/);
    if (li) {
      flush();
      const items = [];
      while (i < lines.length) {
        const m = lines[i].match(/^(\s*)([-*+]|\d{1,3}[.)])\s+(.*)$/);
        if (m) items.push({ indent: m[1].length, ordered: /\d/.test(m[2]), text: m[3] });
        else if (lines[i].trim() && /^\s{2,}/.test(lines[i]) && items.length) items[items.length - 1].text += " " + lines[i].trim();
        else break;
        i++;
      }
      i--;
      out.push(list(items, opts));
      continue;
    }
    if (!line.trim()) { flush(); continue; }
    para.push(line);
  }
  flush();
  return out.join("\n");
}
