// relval QA report: filter, group and draw the objects of window.RELVAL (report_data.js).
// Static page, no server: everything is computed here from the embedded data.
(function () {
  "use strict";
  var DATA = window.RELVAL || {objects: [], hists: {}};
  var RANK = {BAD: 0, WARNING: 1, GOOD: 2, NOT_COMPARED: 3};
  var GRADES = ["BAD", "WARNING", "GOOD", "NOT_COMPARED"];
  var PAGE = 48;  // overview cards per page
  var state = {page: 0, open: {}};
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function directory(o) {
    var path = o.p || o.n, cut = path.lastIndexOf("/");
    return cut < 0 ? "(top level)" : path.slice(0, cut);
  }

  function groupKey(o, mode) {
    if (mode === "none") return "all objects";
    var file = o.f ? o.f : "";
    if (mode === "file") return file || "(file)";
    return (file ? file + " : " : "") + directory(o);
  }

  function globToRegExp(text) {
    var escaped = text.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp("^" + escaped + "$", "i");
  }

  // The current filter as a predicate: grade boxes, failing test, and the search text
  // (a substring of the name, or a glob when it holds * or ?).
  function filter() {
    var grades = {};
    GRADES.forEach(function (g) { grades[g] = $("grade-" + g).checked; });
    var test = $("test").value;
    var text = $("search").value.trim();
    var glob = /[*?]/.test(text) ? globToRegExp(text) : null;
    var lower = text.toLowerCase();
    return function (o) {
      if (!grades[o.g]) return false;
      if (test !== "any") {
        var t = o.t && o.t[test];
        if (!t || t.g === "GOOD") return false;
      }
      if (!text) return true;
      return glob ? (glob.test(o.n) || glob.test(o.p || "")) : o.n.toLowerCase().indexOf(lower) >= 0;
    };
  }

  function fmt(v, digits) {
    if (v === undefined || v === null || v === "") return "";
    if (typeof v === "string") return v;
    if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(digits - 1);
    return String(Number(v.toPrecision(digits)));
  }

  function testCell(o, name, key) {
    var t = o.t && o.t[name];
    if (!t) return el("td", {});
    return el("td", {cls: "t-" + t.g, text: fmt(t[key], 2), title: name + ": " + t.g});
  }

  function row(o) {
    var tr = el("tr", {cls: "row " + o.g, "data-name": o.n}, [
      el("td", {cls: "grade", text: o.g}),
      el("td", {cls: "name", text: o.p || o.n, title: o.n}),
      el("td", {text: o.s}),
      testCell(o, "chi2", "p"), testCell(o, "ks", "p"), testCell(o, "width", "p"), testCell(o, "entries", "d"),
      el("td", {cls: "reason", text: o.r})
    ]);
    return tr;
  }

  function plotRow(o) {
    var cell = el("td", {colspan: "8", cls: "plotcell"});
    if (o.plot) {
      cell.appendChild(el("a", {href: o.plot}, [el("img", {cls: "overlay", src: o.plot, loading: "lazy",
                                                           alt: "overlay of " + o.n})]));
    } else if (o.h) {
      var canvas = el("canvas", {width: "480", height: "300", cls: "inline"});
      cell.appendChild(canvas);
      draw(canvas, DATA.hists[o.i]);
    }
    return el("tr", {cls: "plotrow"}, [cell]);
  }

  function counts(list) {
    var c = {BAD: 0, WARNING: 0, GOOD: 0, NOT_COMPARED: 0};
    list.forEach(function (o) { c[o.g] += 1; });
    return GRADES.filter(function (g) { return c[g]; }).map(function (g) {
      return '<span class="count ' + g + '">' + c[g] + " " + g + "</span>";
    }).join(" ");
  }

  function renderTable(shown) {
    var mode = $("group").value, groups = {}, order = [];
    shown.forEach(function (o) {
      var key = groupKey(o, mode);
      if (!groups[key]) { groups[key] = []; order.push(key); }
      groups[key].push(o);
    });
    order.sort(function (a, b) {
      var ra = Math.min.apply(null, groups[a].map(function (o) { return RANK[o.g]; }));
      var rb = Math.min.apply(null, groups[b].map(function (o) { return RANK[o.g]; }));
      return ra - rb || a.localeCompare(b);
    });
    var table = $("results"), searching = $("search").value.trim() !== "";
    while (table.tBodies.length) table.removeChild(table.tBodies[0]);
    order.forEach(function (key) {
      var members = groups[key];
      var flagged = members.some(function (o) { return o.g === "BAD" || o.g === "WARNING"; });
      var open = key in state.open ? state.open[key] : (flagged || searching || order.length <= 3);
      var head = el("tr", {cls: "grouphead"}, [el("th", {colspan: "8"})]);
      head.firstChild.innerHTML = '<span class="toggle">' + (open ? "&#9662;" : "&#9656;") + "</span> ";
      head.firstChild.appendChild(document.createTextNode(key + " "));
      head.firstChild.insertAdjacentHTML("beforeend", '<span class="groupcounts">(' + members.length +
                                         ": " + counts(members) + ")</span>");
      var body = el("tbody", {cls: "group" + (open ? " open" : ""), "data-group": key}, [head]);
      head.addEventListener("click", function () { state.open[key] = !open; update(); });
      if (open) {
        members.sort(function (a, b) { return RANK[a.g] - RANK[b.g] || a.n.localeCompare(b.n); });
        members.forEach(function (o) {
          var tr = row(o);
          body.appendChild(tr);
          if (o.plot) body.appendChild(plotRow(o));  // WARNING/BAD overlays, inline
          else if (o.h) tr.addEventListener("click", function () {
            if (tr.nextSibling && tr.nextSibling.className === "plotrow") body.removeChild(tr.nextSibling);
            else body.insertBefore(plotRow(o), tr.nextSibling);
          });
        });
      }
      table.appendChild(body);
    });
  }

  // --- drawing (overview cards and GOOD rows) -----------------------------------------
  function axisEdges(x, n) {
    if (x.length !== 2 || n === 1) {
      if (x.length === n + 1) return x;
    }
    var out = [];
    for (var i = 0; i <= n; i++) out.push(x[0] + (x[1] - x[0]) * i / n);
    return out;
  }

  function draw(canvas, h) {
    var ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    ctx.font = "12px sans-serif";
    if (!h) { ctx.fillText("nothing to draw", 10, 20); return; }
    var L = 44, R = 8, T = 8, B = 22, w = W - L - R, hh = H - T - B;
    if (h.d === 2) { draw2d(ctx, h, L, T, w, hh); return; }
    var xa = axisEdges(h.x, h.a.length), xb = h.xb ? axisEdges(h.xb, h.b.length) : xa;
    var lo = Math.min(0, Math.min.apply(null, h.a), Math.min.apply(null, h.b));  // y from zero
    var hi = Math.max(1, Math.max.apply(null, h.a), Math.max.apply(null, h.b)) * 1.1;
    var x0 = Math.min(xa[0], xb[0]), x1 = Math.max(xa[xa.length - 1], xb[xb.length - 1]);
    var X = function (v) { return L + (v - x0) / (x1 - x0) * w; };
    var Y = function (v) { return T + hh - (v - lo) / (hi - lo) * hh; };
    ctx.strokeStyle = "#888"; ctx.lineWidth = 1;
    ctx.strokeRect(L, T, w, hh);
    ctx.fillStyle = "#333";
    ctx.textAlign = "right";
    ctx.fillText(fmt(h.s * hi / 1000, 2), L - 3, T + 10);  // the y axis in density units
    ctx.fillText(fmt(lo * h.s / 1000, 2), L - 3, T + hh);
    ctx.textAlign = "left";
    ctx.fillText(fmt(x0, 3), L, H - 6);
    ctx.textAlign = "right";
    ctx.fillText(fmt(x1, 3), L + w, H - 6);
    function steps(edges, values, colour, width) {
      ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.beginPath();
      ctx.moveTo(X(edges[0]), Y(0));
      for (var i = 0; i < values.length; i++) {
        ctx.lineTo(X(edges[i]), Y(values[i]));
        ctx.lineTo(X(edges[i + 1]), Y(values[i]));
      }
      ctx.lineTo(X(edges[values.length]), Y(0));
      ctx.stroke();
    }
    steps(xb, h.b, "#000", 1.5);
    steps(xa, h.a, "#d62728", 1.2);
  }

  function draw2d(ctx, h, L, T, w, hh) {
    var half = (w - 10) / 2;
    [h.a, h.b].forEach(function (values, side) {
      var left = L + side * (half + 10), cw = half / h.nx, ch = hh / h.ny;
      var top = Math.max(1, Math.max.apply(null, values));
      for (var i = 0; i < h.nx; i++) for (var j = 0; j < h.ny; j++) {
        var v = values[i * h.ny + j] / top;
        if (v <= 0) continue;
        ctx.fillStyle = "rgba(31,119,180," + Math.min(1, 0.1 + 0.9 * v).toFixed(3) + ")";
        ctx.fillRect(left + i * cw, T + hh - (j + 1) * ch, Math.ceil(cw), Math.ceil(ch));
      }
      ctx.strokeStyle = "#888"; ctx.strokeRect(left, T, half, hh);
      ctx.fillStyle = "#333"; ctx.textAlign = "left";
      ctx.fillText(side ? "reference" : "new", left, T + hh + 14);
    });
  }

  function renderOverview(shown) {
    var drawable = shown.filter(function (o) { return o.h; });
    var pages = Math.max(1, Math.ceil(drawable.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var grid = $("overview");
    grid.innerHTML = "";
    drawable.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (o) {
      var canvas = el("canvas", {width: "300", height: "190"});
      var card = el("figure", {cls: "card " + o.g, title: o.n}, [
        canvas, el("figcaption", {text: (o.f ? o.f + ":" : "") + (o.p || o.n)})]);
      grid.appendChild(card);
      draw(canvas, DATA.hists[o.i]);
    });
    $("page").textContent = "page " + (state.page + 1) + " of " + pages + " (" + drawable.length + " drawn)";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  function update() {
    var keep = filter();
    var shown = DATA.objects.filter(keep);
    $("shown").textContent = "showing " + shown.length + " of " + DATA.objects.length + " objects";
    renderTable(shown);
    renderOverview(shown);
  }

  DATA.objects.forEach(function (o, i) { o.i = i; });
  ["search"].forEach(function (id) { $(id).addEventListener("input", function () { state.page = 0; update(); }); });
  ["test", "group"].concat(GRADES.map(function (g) { return "grade-" + g; })).forEach(function (id) {
    $(id).addEventListener("change", function () { state.page = 0; state.open = {}; update(); });
  });
  $("prev").addEventListener("click", function () { state.page -= 1; update(); });
  $("next").addEventListener("click", function () { state.page += 1; update(); });
  update();
})();
