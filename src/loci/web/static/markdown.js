// A small Markdown renderer that builds DOM nodes and never parses HTML: every piece of text
// becomes a text node, so model output can't inject markup or scripts. Also a tiny code
// highlighter (spans with textContent) and safe rendering of HTML tables from program output.
"use strict";

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([^\s`]*)/;
const KEYWORDS = new Set((
  "and as assert async await break class continue def del elif else except False finally for " +
  "from global if import in is lambda None nonlocal not or pass raise return True try while " +
  "with yield then fi do done case esac function export local echo cd"
).split(" "));
const TOKEN = /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)/g;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function highlight(code, parent) {
  let last = 0;
  for (const m of code.matchAll(TOKEN)) {
    if (m.index > last) parent.append(document.createTextNode(code.slice(last, m.index)));
    let cls = null;
    if (m[1]) cls = "tok-comment";
    else if (m[2]) cls = "tok-string";
    else if (m[3]) cls = "tok-number";
    else if (m[4] && KEYWORDS.has(m[4])) cls = "tok-keyword";
    parent.append(cls ? el("span", cls, m[0]) : document.createTextNode(m[0]));
    last = m.index + m[0].length;
  }
  if (last < code.length) parent.append(document.createTextNode(code.slice(last)));
}

function codeBlock(code, lang) {
  const pre = el("pre", "code");
  const c = el("code");
  if (lang) pre.dataset.lang = lang;
  highlight(code, c);
  pre.append(c);
  return pre;
}

const INLINE = /(`+)([\s\S]*?)\1|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|\[([^\]]+)\]\(([^)\s]+)\)/g;

function inline(text, parent) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
    if (m[1]) parent.append(el("code", "inline", m[2]));
    else if (m[3] || m[4]) {
      const b = el("strong");
      inline(m[3] || m[4], b);
      parent.append(b);
    } else if (m[5]) {
      const i = el("em");
      inline(m[5], i);
      parent.append(i);
    } else if (m[6]) {
      if (/^https?:\/\//i.test(m[7])) {
        const a = el("a", null, m[6]);
        a.href = m[7];
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        parent.append(a);
      } else parent.append(document.createTextNode(m[0]));
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

function splitRow(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function table(rows) {
  const t = el("table");
  rows.forEach((cells, i) => {
    const tr = el("tr");
    cells.forEach((cell) => {
      const td = el(i === 0 ? "th" : "td");
      inline(cell, td);
      tr.append(td);
    });
    (i === 0 ? t.createTHead() : t.tBodies[0] || t.createTBody()).append(tr);
  });
  return t;
}

// Render `text` as Markdown into `container`. Fenced code whose content is in `hide` is left
// out (it is shown as a code block card instead).
function renderMarkdown(text, container, hide) {
  container.replaceChildren();
  const lines = text.split("\n");
  let para = [];
  const flush = () => {
    if (para.length) {
      const p = el("p");
      inline(para.join("\n"), p);
      container.append(p);
      para = [];
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {
      flush();
      const body = [];
      const close = new RegExp("^\\s{0,3}" + fence[1][0] + "{" + fence[1].length + ",}\\s*$");
      for (i++; i < lines.length && !close.test(lines[i]); i++) body.push(lines[i]);
      const code = body.join("\n");
      if (!(hide && hide.has(code.trim()))) container.append(codeBlock(code, fence[2]));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flush();
      const h = el("h" + Math.min(heading[1].length + 2, 6));
      inline(heading[2], h);
      container.append(h);
      continue;
    }
    if (/^\s*\|.*\|\s*$/.test(line) && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1] || "")) {
      flush();
      const rows = [splitRow(line)];
      for (i += 2; i < lines.length && /^\s*\|/.test(lines[i]); i++) rows.push(splitRow(lines[i]));
      i--;
      container.append(table(rows));
      continue;
    }
    const item = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
    if (item) {
      flush();
      const list = el(/\d/.test(item[1]) ? "ol" : "ul");
      for (; i < lines.length; i++) {
        const m = lines[i].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
        if (!m) break;
        const li = el("li");
        inline(m[2], li);
        list.append(li);
      }
      i--;
      container.append(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      flush();
      const q = el("blockquote");
      inline(line.replace(/^>\s?/, ""), q);
      container.append(q);
      continue;
    }
    if (!line.trim()) flush();
    else para.push(line);
  }
  flush();
}

// An HTML table from program output, rebuilt from cell text only (no attributes, no markup).
// DOMParser documents are inert: nothing in them runs or loads. Returns null if no table.
function safeTable(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const src = doc.querySelector("table");
  if (!src) return null;
  const t = el("table", "data");
  for (const row of src.querySelectorAll("tr")) {
    const tr = el("tr");
    for (const cell of row.children) {
      const tag = cell.tagName === "TH" ? "th" : "td";
      tr.append(el(tag, null, cell.textContent));
    }
    t.append(tr);
  }
  return t;
}

window.md = { renderMarkdown, codeBlock, highlight, safeTable, el };
