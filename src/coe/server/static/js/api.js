// Talking to the CoE server: JSON requests and server-sent event streams, with the API key if one is set.

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const auth = {
  get key() { return localStorage.getItem("coe.key") || ""; },
  set key(v) { if (v) localStorage.setItem("coe.key", v); else localStorage.removeItem("coe.key"); },
  onMissing: null, // set by the app: called on 401 to ask for a key
};

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (auth.key) h.Authorization = `Bearer ${auth.key}`;
  return h;
}

async function failure(res) {
  let message = `${res.status} ${res.statusText}`;
  let code;
  try {
    const body = await res.json();
    const err = body.error ?? body;
    message = err.message ?? err.detail ?? message;
    code = err.code;
  } catch { /* not JSON */ }
  if (res.status === 401 && auth.onMissing) auth.onMissing(message);
  return new ApiError(res.status, message, code);
}

async function send(path, { method = "GET", body, signal } = {}) {
  let res;
  try {
    res = await fetch(path, { method, headers: headers(body !== undefined), signal,
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "network");
  }
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJSON(path, opts) { return (await send(path, opts)).json(); }
export async function postJSON(path, body, opts = {}) { return (await send(path, { ...opts, method: "POST", body })).json(); }
export async function getBlob(path, opts) { return (await send(path, opts)).blob(); }

/** POST a JSON body and yield each `data:` event of the SSE response as parsed JSON (until [DONE]). */
export async function* stream(path, body, signal) {
  const res = await send(path, { method: "POST", body, signal });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      yield JSON.parse(data);
    }
  }
}
