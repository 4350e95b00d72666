/* promptops HTML report: search, filter, sort and page the case table. No dependencies;
   every value from the data block is written with textContent, never as HTML. */
(function () {
  "use strict";
  var node = document.getElementById("report-data");
  if (!node) return;
  var DATA = JSON.parse(node.textContent);
  var ROWS = DATA.rows;
  var DIFF = DATA.kind === "diff";
  var PAGE = 50;
  var STATUS = DIFF
    ? [["", "All"], ["regressed", "Regressed"], ["improved", "Improved"], ["same-pass", "Both pass"],
       ["same-fail", "Both fail"], ["left-out", "Left out"]]
    : [["", "All"], ["pass", "Pass"], ["fail", "Fail"], ["error", "Error"]];
  var LABELS = {
    pass: "pass", fail: "fail", error: "error", regressed: "regressed", improved: "improved",
    "same-pass": "both pass", "same-fail": "both fail", "only-a": "only in A", "only-b": "only in B",
    errored: "provider error", unscored: "unscored"
  };
  var RANK = DIFF
    ? { regressed: 0, errored: 1, unscored: 2, "only-a": 3, "only-b": 3, "same-fail": 4, improved: 5, "same-pass": 6 }
    : { error: 0, fail: 1, pass: 2 };
  var state = { q: "", status: "", group: "", page: 0, sort: "worst", dir: 1, open: {} };
  var matching = ROWS;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(x, d) { return x === null || x === undefined ? "–" : Number(x).toFixed(d === undefined ? 3 : d); }
  function statusOf(r) {
    if (DIFF && (r.st === "only-a" || r.st === "only-b" || r.st === "errored" || r.st === "unscored")) return "left-out";
    return r.st;
  }
  function sideText(side, r, which) {
    if (!side) return null;
    if (r.ops) {
      var out = "";
      for (var i = 0; i < r.ops.length; i++) {
        var op = r.ops[i][0];
        if (op === 0 || op === which) out += r.ops[i][1];
      }
      return out;
    }
    return side.out;
  }
  function haystack(r) {
    if (r._h === undefined) {
      var parts = [r.id, r.vars || "", r.exp || "", DATA.groups[r.g] || ""];
      if (DIFF) {
        parts.push(sideText(r.a, r, -1) || "", sideText(r.b, r, 1) || "");
        if (r.a) parts.push(r.a.why || "");
        if (r.b) parts.push(r.b.why || "");
      } else {
        parts.push(r.out || "", r.why || "", r.err || "");
      }
      r._h = parts.join("\n").toLowerCase();
    }
    return r._h;
  }
  function compare(a, b) {
    var s = state.sort, v;
    if (s === "id") v = String(a.id).localeCompare(String(b.id), undefined, { numeric: true });
    else if (s === "score") v = (DIFF ? key(a.d) - key(b.d) : key(a.sc) - key(b.sc));
    else if (s === "latency") v = key(a.lat) - key(b.lat);
    else v = (RANK[a.st] - RANK[b.st]) || (DIFF ? key(a.d) - key(b.d) : key(a.sc) - key(b.sc));
    if (!v) v = String(a.id).localeCompare(String(b.id), undefined, { numeric: true }) || a.g - b.g || (a.r || 0) - (b.r || 0);
    return v * state.dir;
  }
  function key(x) { return x === null || x === undefined ? -Infinity : x; }

  function apply() {
    var terms = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    var g = state.group === "" ? null : Number(state.group);
    matching = ROWS.filter(function (r) {
      if (state.status && statusOf(r) !== state.status) return false;
      if (g !== null && r.g !== g) return false;
      if (!terms.length) return true;
      var h = haystack(r);
      for (var i = 0; i < terms.length; i++) if (h.indexOf(terms[i]) < 0) return false;
      return true;
    });
    matching.sort(compare);
    counts();
    render();
  }

  function counts() {
    var terms = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    var g = state.group === "" ? null : Number(state.group);
    var n = {};
    ROWS.forEach(function (r) {
      if (g !== null && r.g !== g) return;
      if (terms.length) {
        var h = haystack(r);
        for (var i = 0; i < terms.length; i++) if (h.indexOf(terms[i]) < 0) return;
      }
      n[""] = (n[""] || 0) + 1;
      var s = statusOf(r);
      n[s] = (n[s] || 0) + 1;
    });
    var buttons = document.querySelectorAll("#status-filter button");
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      b.querySelector(".n").textContent = String(n[b.getAttribute("data-status")] || 0);
      b.setAttribute("aria-pressed", String(b.getAttribute("data-status") === state.status));
    }
  }

  function cellScore(sc, pass) {
    var td = el("td", "num");
    if (sc === null || sc === undefined) { td.textContent = "–"; return td; }
    var bar = el("span", "scorebar"), fill = el("i");
    fill.style.width = Math.max(0, Math.min(1, sc)) * 100 + "%";
    if (pass === false) fill.style.background = "var(--fail)";
    bar.appendChild(fill);
    td.appendChild(bar);
    td.appendChild(document.createTextNode(fmt(sc, 2)));
    return td;
  }
  function badge(st) { return el("span", "badge b-" + st, LABELS[st] || st); }
  function idCell(r) {
    var td = el("td", "id", r.id);
    if (r.r) td.appendChild(el("span", "rep", " #" + r.r));
    return td;
  }

  function runRow(r) {
    var tr = el("tr", "row");
    tr.appendChild(idCell(r));
    if (DATA.groups.length > 1) tr.appendChild(el("td", "grp", DATA.groups[r.g]));
    var st = el("td"); st.appendChild(badge(r.st)); tr.appendChild(st);
    tr.appendChild(cellScore(r.st === "error" ? null : r.sc, r.st === "pass"));
    var out = el("td"); out.appendChild(el("div", "clamp", r.out === null ? "(no output)" : r.out)); tr.appendChild(out);
    var why = el("td"); why.appendChild(el("div", "clamp why", r.err || r.why || "")); tr.appendChild(why);
    return tr;
  }
  function diffRow(r) {
    var tr = el("tr", "row");
    tr.appendChild(idCell(r));
    if (DATA.groups.length > 1) tr.appendChild(el("td", "grp", DATA.groups[r.g]));
    var st = el("td"); st.appendChild(badge(r.st)); tr.appendChild(st);
    tr.appendChild(cellScore(r.a ? r.a.sc : null, r.a ? r.a.p >= 0.5 : null));
    tr.appendChild(cellScore(r.b ? r.b.sc : null, r.b ? r.b.p >= 0.5 : null));
    var d = el("td", "num", r.d === null || r.d === undefined ? "–" : (r.d > 0 ? "+" : "") + fmt(r.d, 2));
    if (r.d < 0) d.style.color = "var(--fail)"; else if (r.d > 0) d.style.color = "var(--pass)";
    tr.appendChild(d);
    var out = el("td"); out.appendChild(el("div", "clamp", sideText(r.b, r, 1) || "")); tr.appendChild(out);
    return tr;
  }

  function pane(title, text, cls) {
    var p = el("div", "pane" + (cls ? " " + cls : ""));
    p.appendChild(el("h4", null, title));
    p.appendChild(el("pre", null, text === null || text === undefined ? "–" : text));
    return p;
  }
  function diffPane(title, r, which) {
    var p = el("div", "pane");
    p.appendChild(el("h4", null, title));
    var pre = el("pre");
    var side = which < 0 ? r.a : r.b;
    if (!side) pre.textContent = "(not in this run)";
    else if (r.ops) {
      r.ops.forEach(function (o) {
        if (o[0] === 0) pre.appendChild(document.createTextNode(o[1]));
        else if (o[0] === which) pre.appendChild(el(which < 0 ? "del" : "ins", null, o[1]));
      });
    } else pre.textContent = side.out === null ? "(no output)" : side.out;
    p.appendChild(pre);
    if (side && side.why) p.appendChild(el("div", "why", side.why));
    return p;
  }
  function assertionTable(list) {
    var p = el("div", "pane full");
    p.appendChild(el("h4", null, "Assertions"));
    if (!list || !list.length) { p.appendChild(el("div", "muted", "none")); return p; }
    var t = el("table", "tbl"), head = el("tr");
    ["assertion", "result", "score", "reason"].forEach(function (h, i) { head.appendChild(el("th", i === 2 ? "num" : null, h)); });
    t.appendChild(head);
    list.forEach(function (a) {
      var tr = el("tr");
      tr.appendChild(el("td", "mono", a[0]));
      var res = el("td"); res.appendChild(badge(a[1] ? "pass" : "fail")); tr.appendChild(res);
      tr.appendChild(el("td", "num", fmt(a[2], 3)));
      tr.appendChild(el("td", null, a[3] || ""));
      t.appendChild(tr);
    });
    var wrap = el("div", "scroll"); wrap.appendChild(t); p.appendChild(wrap);
    return p;
  }
  function kv(pairs) {
    var d = el("div", "kv full");
    pairs.forEach(function (kvp) {
      if (kvp[1] === null || kvp[1] === undefined || kvp[1] === "") return;
      var s = el("span", null, kvp[0] + " ");
      s.appendChild(el("b", null, kvp[1]));
      d.appendChild(s);
    });
    return d;
  }
  function detail(r, span) {
    var tr = el("tr", "detail"), td = el("td"), grid = el("div", "detail-grid");
    td.colSpan = span;
    if (DIFF) {
      grid.appendChild(diffPane("A · " + DATA.labels[0], r, -1));
      grid.appendChild(diffPane("B · " + DATA.labels[1], r, 1));
      grid.appendChild(pane("Inputs", r.vars));
      grid.appendChild(pane("Expected", r.exp));
    } else {
      grid.appendChild(pane("Inputs", r.vars));
      grid.appendChild(pane("Expected", r.exp));
      grid.appendChild(pane(r.err ? "Error (" + (r.ek || "error") + ")" : "Output", r.err || (r.out === null ? "(no output)" : r.out), "full"));
      if (r.ae) grid.appendChild(pane("Assertion error", r.ae, "full"));
      grid.appendChild(assertionTable(r.as));
      grid.appendChild(kv([
        ["group", DATA.groups[r.g]], ["repeat", r.r], ["latency", r.lat === null || r.lat === undefined ? null : fmt(r.lat, 0) + " ms"],
        ["tokens", r.ti === null || r.ti === undefined ? null : r.ti + " in / " + r.to + " out"],
        ["cost", r.cost === null || r.cost === undefined ? null : "$" + Number(r.cost).toFixed(6)],
        ["cached", r.cached ? "yes" : null], ["finish", r.fr], ["answered by", r.ab], ["trace", r.tid]
      ]));
    }
    td.appendChild(grid);
    tr.appendChild(td);
    return tr;
  }

  function render() {
    var body = $("rows"), table = $("cases-table");
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    var start = state.page * PAGE, slice = matching.slice(start, start + PAGE);
    var span = table.querySelectorAll("thead th").length;
    var frag = document.createDocumentFragment();
    slice.forEach(function (r) {
      var tr = DIFF ? diffRow(r) : runRow(r);
      var k = r.g + "\u0000" + r.id + "\u0000" + (r.r || 0);
      tr.setAttribute("data-case", r.id);
      tr.tabIndex = 0;
      var open = function () {
        state.open[k] = !state.open[k];
        render();
      };
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
      frag.appendChild(tr);
      if (state.open[k]) { tr.classList.add("open"); frag.appendChild(detail(r, span)); }
    });
    body.textContent = "";
    if (!slice.length) {
      var tr = el("tr"), td = el("td", "none", "No case matches.");
      td.colSpan = span; tr.appendChild(td); body.appendChild(tr);
    } else body.appendChild(frag);
    table.setAttribute("data-matching", String(matching.length));
    $("count").textContent = matching.length === ROWS.length
      ? ROWS.length + " rows"
      : matching.length + " of " + ROWS.length + " rows";
    $("page").textContent = matching.length ? (start + 1) + "–" + (start + slice.length) + " of " + matching.length : "";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    var ths = table.querySelectorAll("th.sortable");
    for (var i = 0; i < ths.length; i++) {
      var arrow = ths[i].querySelector(".arrow");
      arrow.textContent = ths[i].getAttribute("data-sort") === state.sort ? (state.dir > 0 ? "▲" : "▼") : "";
    }
  }

  function init() {
    var seg = $("status-filter");
    STATUS.forEach(function (s) {
      var b = el("button", null, s[1]);
      b.type = "button";
      b.setAttribute("data-status", s[0]);
      b.appendChild(el("span", "n", ""));
      b.addEventListener("click", function () { state.status = s[0]; state.page = 0; apply(); });
      seg.appendChild(b);
    });
    var sel = $("group-filter");
    if (DATA.groups.length > 1) {
      DATA.groups.forEach(function (g, i) { var o = el("option", null, g); o.value = String(i); sel.appendChild(o); });
      sel.addEventListener("change", function () { state.group = sel.value; state.page = 0; apply(); });
    } else sel.style.display = "none";
    var q = $("q"), timer = null;
    q.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.q = q.value; state.page = 0; apply(); }, 80);
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "/" && document.activeElement !== q) { ev.preventDefault(); q.focus(); }
    });
    $("prev").addEventListener("click", function () { state.page -= 1; render(); });
    $("next").addEventListener("click", function () { state.page += 1; render(); });
    var ths = document.querySelectorAll("#cases-table th.sortable");
    for (var i = 0; i < ths.length; i++) {
      ths[i].addEventListener("click", function (ev) {
        var s = ev.currentTarget.getAttribute("data-sort");
        if (state.sort === s) state.dir = -state.dir; else { state.sort = s; state.dir = 1; }
        apply();
      });
    }
    var links = document.querySelectorAll("[data-filter-status]");
    for (var j = 0; j < links.length; j++) {
      links[j].addEventListener("click", function (ev) {
        state.status = ev.currentTarget.getAttribute("data-filter-status");
        state.page = 0;
        apply();
      });
    }
    apply();
  }
  init();
})();
