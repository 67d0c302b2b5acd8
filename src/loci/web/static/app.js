// The loci browser UI: talks to the HTTP API, renders the event stream. No innerHTML anywhere:
// model and program output only ever become text nodes, images from data: URLs, or HTML in a
// sandboxed iframe (no scripts, opaque origin).
"use strict";

(() => {
const { renderMarkdown, codeBlock, safeTable, el } = window.md;
const $ = (id) => document.getElementById(id);
const S = { token: "", conv: null, after: 0, source: null, running: false, auto: false,
  cards: {}, execs: {}, turn: null, segment: null, requests: 0 };
const PREVIEW_NOTE = "\n\n(loci: a look at the files mentioned above)\n";  // prompts.PREVIEW_NOTE

function takeToken() {
  const params = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  const given = params.get("token") || hash.get("token");
  // another token is another person (multi-user servers): forget the last one's conversation
  if (given && given !== sessionStorage.getItem("loci-token")) sessionStorage.removeItem("loci-conv");
  const token = given || sessionStorage.getItem("loci-token");
  if (token) sessionStorage.setItem("loci-token", token);
  const conv = hash.get("c") || sessionStorage.getItem("loci-conv");
  history.replaceState(null, "", "/" + (conv ? "#c=" + conv : ""));
  return [token || "", conv ? Number(conv) : null];
}

async function api(path, { method = "GET", body, raw } = {}) {
  const headers = { Authorization: "Bearer " + S.token };
  let payload = raw;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: payload });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.error || r.statusText), { status: r.status });
  return data;
}

function fileUrl(path) {
  const enc = path.split("/").map(encodeURIComponent).join("/");
  return `/api/conversations/${S.conv}/files/${enc}?token=${encodeURIComponent(S.token)}`;
}

function setRunning(on) {
  S.running = on;
  $("stop").disabled = !on;
  $("send").disabled = on;
}

function scroll() { const log = $("log"); log.scrollTop = log.scrollHeight; }

function notice(level, text) { $("log").append(el("div", "notice " + level, text)); }

// -- conversations ----------------------------------------------------------------------
// Refreshes overlap (a conversation opened, a turn done): only the newest answer is shown,
// never an older one that arrives after it.
const asked = {};
async function newest(key, load) {
  const mine = (asked[key] = (asked[key] || 0) + 1);
  const data = await load();
  return mine === asked[key] ? data : undefined;
}

async function refreshList() {
  const rows = await newest("list", () => api("/api/conversations"));
  if (rows === undefined) return;
  const ul = $("conversations");
  ul.replaceChildren();
  for (const row of rows) {
    const li = el("li", null, (row.parent_id ? "↳ " : "") + (row.title || `Conversation ${row.id}`));
    li.dataset.id = row.id;
    li.title = `${row.model} · ${row.message_count} messages` +
      (row.parent_id ? ` · a branch of ${row.parent_id} from request ${row.branched_at_request}` : "");
    if (row.id === S.conv) li.classList.add("current");
    if (row.running) li.classList.add("running");
    li.addEventListener("click", () => openConversation(row.id));
    ul.append(li);
  }
}

async function newConversation() {
  const live = await api("/api/conversations", { method: "POST",
    body: { model: $("model").value.trim() || null, auto_run: $("auto").checked } });
  await openConversation(live.id);
  return live.id;
}

async function openConversation(id) {
  if (S.source) S.source.close();
  S.conv = id; S.cards = {}; S.execs = {}; S.turn = null; S.segment = null; S.requests = 0;
  sessionStorage.setItem("loci-conv", String(id));
  history.replaceState(null, "", "/#c=" + id);
  $("log").replaceChildren();
  const rec = await api(`/api/conversations/${id}`);
  renderHistory(rec.items);
  S.after = rec.live.after;
  $("auto").checked = rec.live.auto_run;
  if (rec.live.model) $("model").value = rec.live.model;
  setRunning(rec.live.running);
  connect();
  refreshList(); refreshFiles(); refreshKernel();
}

function connect() {
  const url = `/api/conversations/${S.conv}/events?after=${S.after}&token=${encodeURIComponent(S.token)}`;
  const source = new EventSource(url);
  source.onmessage = (m) => {
    const seq = Number(m.lastEventId);
    if (seq <= S.after) return;
    S.after = seq;
    handle(JSON.parse(m.data));
  };
  S.source = source;
}

// -- rendering stored history -------------------------------------------------------------
function renderHistory(items) {
  const codes = new Set(items.filter((i) => i.kind === "execution").map((i) => i.code.trim()));
  for (const item of items) {
    if (item.kind === "execution") {
      const card = makeCard({ id: item.block_id, language: item.language, code: item.code });
      card.decided(item.approved_by, true, item.code);
      for (const o of item.outputs) showOutput(card, o);
      card.done({ status: item.status, duration: item.duration, files: item.files,
        message: item.message, error_name: item.error_name, error_value: item.error_value });
    } else if (item.role === "user" && item.origin === "person") {  // not one of loci's notes
      showRequest(item.content, item.request);
    } else if (item.role === "assistant" && item.content) {  // set aside: an attempt not kept
      const div = el("div", item.set_aside ? "assistant set-aside" : "assistant");
      if (item.set_aside) div.title = "an attempt the vote did not keep";
      renderMarkdown(item.content, div, codes);
      $("log").append(div);
      if (item.grounding) showGrounding(item.grounding);
    }
  }
  scroll();
}

// One of the person's requests, number n (as the store counts them), with an Edit button that
// changes it and goes on from there in a new conversation, a branch (the old one stays).
function showRequest(text, n) {
  S.requests = n;
  const div = el("div", "user", text);
  const edit = el("button", "edit-request", "Edit");
  edit.title = "Edit this request and go on from here in a new branch";
  edit.onclick = () => {
    const area = el("textarea", "edit-request");
    area.value = text.split(PREVIEW_NOTE)[0];
    const go = el("button", "branch", "Send as a new branch");
    const cancel = el("button", "cancel", "Cancel");
    const bar = el("div", "edit-bar");
    bar.append(go, cancel);
    div.replaceWith(area);
    edit.replaceWith(bar);
    cancel.onclick = () => { area.replaceWith(div); bar.replaceWith(edit); };
    go.onclick = () => branchFrom(n, area.value.trim()).catch((e) => notice("error", e.message));
  };
  $("log").append(div, edit);
}

async function branchFrom(n, text) {
  if (!text) return;
  const made = await api(`/api/conversations/${S.conv}/branch`, { method: "POST",
    body: { request: n, text } });
  await openConversation(made.id);
  notice("info", `a branch of conversation ${made.parent_id} from request ${n}; ` +
    "the code session was restarted");
}

function showGrounding(g) {  // numbers in an answer that no output of its turn printed
  if (g.unsupported.length) {
    notice("warning", "⚠ not found in any output of this turn: " + g.unsupported.join(", "));
  }
}

// -- live events ----------------------------------------------------------------------------
function handle(ev) {
  switch (ev.type) {
    case "turn_start":
      showRequest(ev.text, S.requests + 1);
      setRunning(true);
      S.segment = null;
      break;
    case "text":
      if (!S.segment) {
        S.segment = { text: "", div: el("div", "assistant"), hide: new Set() };
        $("log").append(S.segment.div);
      }
      S.segment.text += ev.text;
      renderMarkdown(S.segment.text, S.segment.div, S.segment.hide);
      break;
    case "model_done":
      S.lastSegment = S.segment; S.segment = null;
      break;
    case "code": {
      const seg = S.lastSegment;
      if (seg) { seg.hide.add(ev.code.trim()); renderMarkdown(seg.text, seg.div, seg.hide); }
      makeCard(ev).ask(ev);
      break;
    }
    case "approval": {
      const card = S.cards[ev.block_id];
      if (card) card.decided(ev.by, ev.approved, ev.code, ev.reason);
      break;
    }
    case "execution_start": S.execs[ev.execution_id] = S.cards[ev.block_id]; break;
    case "input_request": { const c = S.execs[ev.execution_id]; if (c) c.read(ev); break; }
    case "output": {
      const c = S.execs[ev.execution_id];
      if (c) { if (ev.stream === "stdin") c.answered(); showOutput(c, ev); }
      break;
    }
    case "execution_done": {
      const c = S.execs[ev.execution_id];
      if (c) { c.answered(); c.done(ev); }
      refreshFiles(); refreshKernel();
      break;
    }
    case "notice": notice(ev.level, ev.message); break;
    case "grounding": showGrounding(ev); break;
    case "vote":  // with effort: the answer kept, shown again when another came after it
      notice("info", ev.summary);
      if (ev.again) {
        const div = el("div", "assistant kept");
        renderMarkdown(ev.answer, div, new Set());
        $("log").append(div);
      }
      break;
    case "turn_done":
      $("log").append(el("div", "turn-end", `${ev.status}${ev.message ? ": " + ev.message : ""}` +
        ` · ${ev.usage.prompt_tokens + ev.usage.completion_tokens} tokens`));
      setRunning(false);
      refreshList(); refreshFiles(); refreshKernel();
      break;
  }
  scroll();
}

function makeCard(block) {
  const root = el("div", "card");
  const head = el("header");
  head.append(el("span", "lang", block.language), el("span", "state", ""));
  let pre = codeBlock(block.code, block.language);
  const actions = el("div", "actions");
  const outputs = el("div", "outputs");
  const status = el("div", "status");
  root.append(head, pre, actions, outputs, status);
  $("log").append(root);
  const setState = (t) => { head.querySelector(".state").textContent = t; };
  const card = {
    root, outputs,
    ask(ev) {
      setState("waiting for approval");
      const run = el("button", "run", "Run");
      const edit = el("button", "edit", "Edit");
      const skip = el("button", "skip", "Skip");
      const always = el("button", "always", "Always run");
      const answer = (action, code) => api(`/api/conversations/${S.conv}/approvals`, {
        method: "POST", body: { block_id: ev.id, sha256: ev.sha256, action, code } })
        .catch((e) => notice("error", e.message));
      run.onclick = () => answer("run");
      skip.onclick = () => answer("skip");
      always.onclick = () => answer("always");
      edit.onclick = () => {
        const area = el("textarea");
        area.value = ev.code;
        pre.replaceWith(area);
        pre = area;
        run.textContent = "Run edited";
        run.onclick = () => answer("run", area.value);
        edit.remove(); always.remove();
      };
      actions.replaceChildren(run, edit, skip, always);
    },
    decided(by, approved, code, reason) {
      actions.remove();
      setState(approved ? `approved (${by})` : `skipped${reason ? ": " + reason : ""}`);
      const shown = codeBlock(code, block.language);
      pre.replaceWith(shown);
      pre = shown;
    },
    read(ev) {  // the code waits in input(): a box under its outputs sends one line
      card.answered();
      const form = el("form", "stdin");
      const input = el("input");
      input.type = ev.password ? "password" : "text";
      input.autocomplete = "off";
      input.setAttribute("aria-label", ev.prompt || "input");
      form.append(el("span", "prompt", ev.prompt), input, el("button", "send", "Send"));
      form.onsubmit = (e) => {
        e.preventDefault();
        api(`/api/conversations/${S.conv}/input`, {
          method: "POST", body: { execution_id: ev.execution_id, text: input.value } })
          .catch((err) => notice("error", err.message));
      };
      card.form = form;
      root.insertBefore(form, status);
      input.focus();
    },
    answered() { if (card.form) { card.form.remove(); card.form = null; } },
    done(ev) {
      const ok = ev.status === "ok";
      status.className = "status " + (ok ? "ok" : "bad");
      let text = `${ev.status} · ${ev.duration ?? "?"} s`;
      if (ev.error_name) text += ` · ${ev.error_name}: ${ev.error_value}`;
      if (ev.message) text += ` · ${ev.message}`;
      status.textContent = text;
    },
  };
  S.cards[block.id] = card;
  return card;
}

function showOutput(card, o) {
  const box = card.outputs;
  if (o.mime.startsWith("image/")) {
    const img = el("img");
    const b64 = o.mime === "image/svg+xml" ? btoa(unescape(encodeURIComponent(o.data))) : o.data;
    img.src = `data:${o.mime};base64,${b64}`;
    img.alt = o.text || "image output";
    box.append(img);
  } else if (o.mime === "text/html") {
    const table = safeTable(o.data);
    if (table) box.append(table);
    else {
      const frame = el("iframe");
      frame.setAttribute("sandbox", "");
      frame.srcdoc = o.data;
      box.append(frame);
    }
  } else if (o.mime === "text/markdown") {
    const div = el("div", "assistant");
    renderMarkdown(o.data, div);
    box.append(div);
  } else {
    const last = box.lastElementChild;
    if (last && last.tagName === "PRE" && last.className === o.stream && o.stream !== "result") {
      last.textContent += o.text || o.data;
    } else box.append(el("pre", o.stream, o.stream === "stdin" ? o.data : o.text || o.data));
  }
}

// -- files ----------------------------------------------------------------------------------
async function refreshFiles() {
  const ul = $("filelist");
  const conv = S.conv;
  const data = await newest("files", () => conv ? api(`/api/conversations/${conv}/files`) : null);
  if (data === undefined || conv !== S.conv) return;  // a newer one, or another conversation
  ul.replaceChildren();
  if (!data) return;
  for (const f of data.files) {
    const a = el("a", null, f.path);
    a.href = fileUrl(f.path);
    a.download = f.path.split("/").pop();
    const li = el("li");
    li.append(a, el("span", "size", humanSize(f.size)));
    ul.append(li);
  }
}

// -- what the Python kernel holds (GET .../state, the summary the model is given, listed) --
async function refreshKernel() {
  const box = $("kernel");
  const conv = S.conv;
  const data = await newest("kernel",
    () => conv ? api(`/api/conversations/${conv}/state`).catch(() => null) : null);
  if (data === undefined || conv !== S.conv) return;  // a newer one, or another conversation
  const list = data && data.listing;
  if (!list) { box.replaceChildren(el("p", "empty", "No live kernel: nothing has run since it started.")); return; }
  const ul = el("ul");
  for (const n of list.names) ul.append(el("li", n.changed ? "changed" : null, n.text));
  const parts = [list.names.length ? ul : el("p", "empty", "No names yet.")];
  if (list.left_out) parts.push(el("p", "more", `… and ${list.left_out} more names`));
  if (list.imports.length) parts.push(el("p", "meta", "Imported: " + list.imports.join(", ")));
  if (list.cwd) parts.push(el("p", "meta", "Folder: " + list.cwd));
  box.replaceChildren(...parts);
}

function humanSize(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

async function upload(files) {
  if (!S.conv) await newConversation();
  for (const file of files) {
    $("uploadstatus").textContent = `uploading ${file.name}…`;
    const enc = encodeURIComponent(file.name);
    await api(`/api/conversations/${S.conv}/files/${enc}`, { method: "PUT", raw: file });
  }
  $("uploadstatus").textContent = `uploaded ${files.length} file(s)`;
  $("upload").value = "";
  refreshFiles();
}

// -- start ----------------------------------------------------------------------------------
async function send(event) {
  event.preventDefault();
  await S.ready;  // typed before the page finished loading: send once it has
  const text = $("prompt").value.trim();
  if (!text || S.running) return;
  $("prompt").value = "";  // before any await: a second Enter queued meanwhile finds it empty
  setRunning(true);
  try {
    if (!S.conv) { await newConversation(); setRunning(true); }
    await api(`/api/conversations/${S.conv}/messages`, { method: "POST", body: { text } });
  } catch (e) { notice("error", e.message); setRunning(false); }
}

function forget() {  // a conversation that is gone, or not this user's: start afresh
  S.conv = null;
  sessionStorage.removeItem("loci-conv");
  history.replaceState(null, "", "/");
  $("log").replaceChildren();
  refreshKernel();
  return refreshList();
}

function wire() {  // synchronous, so nothing typed while the page loads is lost
  $("composer").addEventListener("submit", (e) => send(e).catch((x) => notice("error", x.message)));
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  $("stop").onclick = () => api(`/api/conversations/${S.conv}/interrupt`, { method: "POST", body: {} });
  $("new").onclick = () => S.ready.then(newConversation).catch((x) => notice("error", x.message));
  $("upload").onchange = (e) => S.ready.then(() => upload([...e.target.files]))
    .catch((x) => notice("error", x.message));
  $("auto").onchange = () => {
    S.autoTouched = true;  // a choice made before the defaults arrive is kept
    if (S.conv) api(`/api/conversations/${S.conv}/settings`, { method: "POST", body: { auto_run: $("auto").checked } });
  };
  $("model").onchange = () => {
    if (S.conv && !S.running) api(`/api/conversations/${S.conv}/settings`, { method: "POST",
      body: { model: $("model").value.trim() } }).catch((x) => notice("error", x.message));
  };
}

async function start(token, conv) {
  S.token = token;
  const [models, defaults] = await Promise.all([api("/api/models"), api("/api/defaults")]);
  if (!$("model").value.trim()) $("model").value = models.default;
  // `loci serve -y`: the first conversation auto-runs, unless the user already chose
  if (!S.autoTouched) $("auto").checked = defaults.auto_run;
  for (const m of models.choices) { const o = el("option"); o.value = m; $("models").append(o); }
  if (conv) await openConversation(conv).catch(() => forget());
  else await refreshList();
}

$("tokenform").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("loci-token", $("tokeninput").value.trim());
  location.reload();
});
const [token, conv] = takeToken();
if (!token) {
  $("tokenbox").hidden = false;
  S.ready = new Promise(() => {});  // nothing is sent without a token
} else {
  S.ready = start(token, conv);
  S.ready.catch((e) => {
    notice("error", e.message);
    if (e.status === 401) {  // a wrong or revoked token: ask for another
      sessionStorage.removeItem("loci-token");
      $("tokenbox").hidden = false;
    }
  });
}
wire();
})();
