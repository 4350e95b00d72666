"""The review page: one HTML document with its style and script inline (no build step, nothing
fetched but the review API of the same origin). Every user-controlled string is put in the page
with ``textContent``, never as HTML."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>promptops review</title>
<style nonce="__NONCE__">
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{padding:8px 16px;background:#24292f;color:#fff;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header b{font-size:15px} #progress{margin-left:auto}
main{display:grid;grid-template-columns:340px 1fr;gap:12px;padding:12px}
#list{background:#fff;border:1px solid #d0d7de;border-radius:6px;overflow:auto;max-height:calc(100vh - 120px)}
#list .it{padding:6px 10px;border-bottom:1px solid #eee;cursor:pointer;display:flex;gap:8px}
#list .it.cur{background:#ddf4ff} .badge{font-size:11px;padding:1px 6px;border-radius:9px;background:#eee}
.badge.fail,.badge.error{background:#ffebe9;color:#a40e26}.badge.pass{background:#dafbe1;color:#116329}
.lab{margin-left:auto;font-weight:600} #detail{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:8px;border-radius:4px;margin:4px 0 10px}
textarea{width:100%;box-sizing:border-box;font:13px monospace} h3{margin:8px 0 2px;font-size:13px;color:#57606a}
#groups button,#pager button{margin:2px} .sel{outline:2px solid #0969da} #msg{color:#a40e26}
#help{padding:0 16px}
kbd{border:1px solid #aaa;border-radius:3px;padding:0 4px;font-size:12px;background:#fff;color:#000}
</style></head><body>
<header><b>promptops review</b><span id="source"></span><span id="groups"></span>
<span id="progress"></span></header>
<main><section><div id="pager"></div><div id="list"></div></section>
<section id="detail"><p>Loading…</p></section></main>
<p id="help"><kbd>j</kbd>/<kbd>k</kbd> next/previous,
<kbd>p</kbd> pass, <kbd>f</kbd> fail, <kbd>1</kbd>–<kbd>5</kbd> score, <kbd>n</kbd> note,
<kbd>e</kbd> edit expected, <kbd>a</kbd> accept into the gold set, <kbd>]</kbd>/<kbd>[</kbd> page,
<kbd>Esc</kbd> leave a text box.</p>
<script nonce="__NONCE__">
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const S = {offset: 0, limit: 50, group: "", data: null, cur: 0};
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
function show(v) { return v == null ? "" : (typeof v === "string" ? v : JSON.stringify(v, null, 2)); }
async function api(path, body) {
  const opt = {headers: {"X-Review-Token": TOKEN}};
  if (body !== undefined) { opt.method = "POST"; opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt); const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText); return j;
}
let LOADS = 0;
async function load(keepCur) {
  const seq = ++LOADS;
  const q = new URLSearchParams({offset: S.offset, limit: S.limit, group: S.group});
  const data = await api("/api/items?" + q);
  if (seq !== LOADS) return;  // a later click or key asked for another page: its answer wins
  S.data = data;
  S.offset = S.data.offset;
  if (!keepCur) S.cur = 0;
  S.cur = Math.min(S.cur, Math.max(S.data.items.length - 1, 0));
  render();
}
function render() {
  const d = S.data;
  $("source").textContent = d.kind + " " + d.source + " (" + d.prompt + ")";
  $("progress").textContent = d.labelled + " of " + d.all + " labelled";
  const g = $("groups"); g.replaceChildren();
  if (d.kind === "run") {
    const all = el("button", "all " + d.all); all.onclick = () => { S.group = ""; S.offset = 0; load(); };
    if (!S.group) all.classList.add("sel"); g.append(all);
    for (const x of d.groups) { const b = el("button", x.name + " " + x.n); b.dataset.group = x.name;
      if (S.group === x.name) b.classList.add("sel");
      b.onclick = () => { S.group = x.name; S.offset = 0; load(); }; g.append(b); }
  }
  const p = $("pager"); p.replaceChildren();
  const prev = el("button", "‹"); prev.onclick = () => page(-1); const next = el("button", "›"); next.onclick = () => page(1);
  p.append(prev, el("span", " " + (d.total ? d.offset + 1 : 0) + "–" + (d.offset + d.items.length) + " of " + d.total + " "), next);
  const list = $("list"); list.replaceChildren();
  d.items.forEach((it, i) => {
    const row = el("div", null, "it" + (i === S.cur ? " cur" : "")); row.dataset.key = it.key; row.dataset.case = it.case_id;
    row.append(el("span", it.status, "badge " + it.status), el("span", it.case_id), el("span", it.label == null ? "" : String(it.label), "lab"));
    row.onclick = () => { S.cur = i; render(); }; list.append(row);
  });
  detail();
}
function detail() {
  const box = $("detail"); box.replaceChildren();
  const it = S.data.items[S.cur]; if (!it) { box.append(el("p", "Nothing to review.")); return; }
  box.dataset.key = it.key;
  box.append(el("h2", it.case_id + (it.model ? "  ·  " + it.model : "") + (it.version ? "  ·  " + it.version : "")));
  box.append(el("h3", "Inputs"), el("pre", show(it.vars)));
  box.append(el("h3", "Output"), el("pre", it.error ? "error: " + it.error : show(it.output)));
  box.append(el("h3", "Expected"));
  if (S.data.kind === "candidates" && !it.accepted) {
    const t = el("textarea"); t.id = "expected"; t.rows = 3; t.value = show(it.expected); box.append(t);
  } else box.append(el("pre", show(it.expected)));
  if (it.assertions && it.assertions.length) {
    box.append(el("h3", "Assertions"));
    const ul = el("ul"); for (const a of it.assertions) ul.append(el("li", (a.pass ? "✓ " : "✗ ") + a.type + (a.score != null ? " " + a.score : "") + ": " + (a.error || a.reason || "")));
    box.append(ul);
  }
  if (it.metadata) box.append(el("h3", "Metadata"), el("pre", show(it.metadata)));
  box.append(el("h3", "Label"));
  const lab = el("div"); lab.id = "label"; lab.textContent = it.label == null ? "not labelled" : "label: " + it.label; box.append(lab);
  const n = el("textarea"); n.id = "note"; n.rows = 2; n.placeholder = "note (n)"; n.value = it.note || ""; box.append(n);
  if (it.accepted) { const a = el("p", "accepted into the gold set"); a.id = "accepted"; box.append(a); }
  box.append(el("p", "", "msg")); box.lastChild.id = "msg";
}
function page(step) {
  const o = S.offset + step * S.limit; if (o < 0 || o >= S.data.total) return; S.offset = o; load();
}
function move(step) {
  const i = S.cur + step;
  if (i < 0) { if (S.offset > 0) { S.offset -= S.limit; S.cur = S.limit - 1; load(true); } return; }
  if (i >= S.data.items.length) { if (S.offset + S.limit < S.data.total) { S.offset += S.limit; S.cur = 0; load(true); } return; }
  S.cur = i; render(); const c = document.querySelector("#list .cur"); if (c) c.scrollIntoView({block: "nearest"});
}
async function label(value) {
  const it = S.data.items[S.cur]; if (!it) return;
  try {
    const r = await api("/api/label", {key: it.key, label: value, note: ($("note") || {}).value || ""});
    it.label = r.label; it.note = r.note; S.data.labelled = r.labelled; render(); move(1);
  } catch (e) { $("msg").textContent = e.message; }
}
async function accept() {
  const it = S.data.items[S.cur]; if (!it || S.data.kind !== "candidates" || it.accepted) return;
  try { const text = $("expected").value; await api("/api/accept", {key: it.key, expected: text}); it.accepted = true; it.status = "accepted"; it.expected = text; render(); }
  catch (e) { $("msg").textContent = e.message; }
}
document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT")) { if (ev.key === "Escape") t.blur(); return; }
  const k = ev.key;
  if (k === "j" || k === "ArrowDown") move(1);
  else if (k === "k" || k === "ArrowUp") move(-1);
  else if (k === "p") label("pass");
  else if (k === "f") label("fail");
  else if ("12345".includes(k) && k.length === 1) label(Number(k));
  else if (k === "n") { const n = $("note"); if (n) n.focus(); }
  else if (k === "e") { const e = $("expected"); if (e) e.focus(); }
  else if (k === "a") accept();
  else if (k === "]") page(1);
  else if (k === "[") page(-1);
  else return;
  ev.preventDefault();
});
load().then(() => { document.body.dataset.ready = "1"; }).catch((e) => { $("detail").textContent = "error: " + e.message; });
</script></body></html>
"""
