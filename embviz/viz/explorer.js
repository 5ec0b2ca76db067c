/* embviz explorer: search, neighbor panel, selection and export, label thinning, deep links.
 *
 * One hand-written file, no build step. It runs after Plotly.newPlot (plotly's post_script).
 * Its data is the JSON block #embviz-data, read with textContent. Keys are data, never markup:
 * they reach the DOM only through textContent, and plotly text only through esc(), which turns
 * & < > and % into entities (so plotly.js neither parses tags nor expands %{...} templates).
 * Everything is wrapped so that an error here leaves the plot itself working.
 */
(function () {
  "use strict";
  var t0 = performance.now();  // plotly.js has drawn the first frame when this runs
  var gd = document.getElementById("embviz-plot");
  var block = document.getElementById("embviz-data");
  if (!gd || !block || !window.Plotly) { return; }
  var panel = document.getElementById("embviz-panel");
  var statusEl = document.getElementById("embviz-status");
  var input = document.getElementById("embviz-search");
  var matchesEl = document.getElementById("embviz-matches");
  var foundEl = document.getElementById("embviz-found");
  var tip = document.getElementById("embviz-tip");
  var D;
  try {
    D = JSON.parse(block.textContent);
  } catch (e) {
    if (panel) { panel.textContent = "The explorer's data could not be read: " + e; }
    return;
  }

  // served by `embviz serve`: search every key and ask for the neighbors of any key
  var API = window.EMBVIZ_API || null;
  function apiGet(path, params, done) {  // done(body) on 200, done(null, message) otherwise
    var q = Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    });
    if (API.token) { q.push("token=" + encodeURIComponent(API.token)); }
    fetch(API.base + "/" + path + "?" + q.join("&")).then(function (r) {
      return r.json().then(function (body) { return r.ok ? done(body) : done(null, body.error || r.statusText); });
    }).catch(function (e) { done(null, String(e)); });
  }

  // -- data ------------------------------------------------------------------------------------
  function dec(b64, Type) {
    if (!b64) { return new Type(0); }
    var s = atob(b64), u = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { u[i] = s.charCodeAt(i); }
    return new Type(u.buffer);
  }
  var n = D.n, keys = D.keys, total = D.total, dim = D.dim;
  var rank = dec(D.rank, Int32Array);
  var idToJ = new Int32Array(total + 1).fill(-1);
  for (var j0 = 0; j0 < n; j0++) { idToJ[rank[j0] - 1] = j0; }
  // coordinates are stored once, in the figure's point traces (customdata holds the rank)
  var X = new Float32Array(n), Y = new Float32Array(n), Z = dim === 3 ? new Float32Array(n) : null;
  gd._fullData.forEach(function (t) {
    if ((t.meta || {}).role !== "points") { return; }
    var cd = t.customdata, tx = t.x, ty = t.y, tz = t.z;
    for (var p = 0; p < cd.length; p++) {
      var j = idToJ[cd[p] - 1];
      X[j] = tx[p];
      Y[j] = ty[p];
      if (Z) { Z[j] = tz[p]; }
    }
  });
  var byRank = new Int32Array(n), c0 = 0;  // drawn points, most frequent first
  for (var id0 = 0; id0 < total; id0++) { if (idToJ[id0] >= 0) { byRank[c0++] = idToJ[id0]; } }
  // undrawn keys: one newline-joined string (a list when a key itself holds a newline)
  var other = typeof D.other === "string" ? D.other.split("\n") : (D.other || []);
  var otherIds;
  if (D.other_all) {
    otherIds = new Int32Array(other.length);
    var p0 = 0;
    for (var id1 = 0; id1 < total && p0 < other.length; id1++) {
      if (idToJ[id1] < 0) { otherIds[p0++] = id1; }
    }
  } else {
    otherIds = dec(D.other_ids, Int32Array);
  }
  var K = D.k || 0, nbr = D.nbr;
  var nbrRows = nbr ? dec(nbr.rows, Int32Array) : new Int32Array(0);
  var nbrIds = nbr ? dec(nbr.ids, Int32Array) : new Int32Array(0);
  // cosine scores come as int16 (score * 10,000); dot products and distances as float32
  var nbrScale = nbr && nbr.f32 ? 1 : 10000;
  var nbrScores = nbr ? dec(nbr.scores, nbr.f32 ? Float32Array : Int16Array) : new Int16Array(0);
  var METRIC = D.metric || "cosine";
  var listOf = new Int32Array(n).fill(-1);
  for (var q0 = 0; q0 < nbrRows.length; q0++) { listOf[nbrRows[q0]] = q0; }
  // embviz diff --html: B's lists of the same points, and each point's Jaccard, cosine, rank in B
  var CMP = D.compare || null;
  var cmpIds = CMP ? dec(CMP.ids, Int32Array) : null;
  var cmpScores = CMP ? dec(CMP.scores, Int16Array) : null;
  var cmpJac = CMP ? dec(CMP.jaccard, Float32Array) : null;
  var cmpCos = CMP ? dec(CMP.cosine, Float32Array) : null;
  var cmpRankB = CMP ? dec(CMP.rank_b, Int32Array) : null;

  function bsearch(arr, v) {
    var lo = 0, hi = arr.length - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (arr[mid] === v) { return mid; }
      if (arr[mid] < v) { lo = mid + 1; } else { hi = mid - 1; }
    }
    return -1;
  }
  function keyOfId(id) {
    var j = id >= 0 && id < total ? idToJ[id] : -1;
    if (j >= 0) { return keys[j]; }
    var p = bsearch(otherIds, id);
    return p >= 0 ? other[p] : null;
  }
  function neighborsOf(j, inB) {  // [{id, key, score, j}] or null (inB: the diff's B list)
    var q = listOf[j];
    if (q < 0) { return null; }
    var ids = inB ? cmpIds : nbrIds, scores = inB ? cmpScores : nbrScores;
    var scale = inB ? 10000 : nbrScale;
    var out = [];
    for (var r = 0; r < K; r++) {
      var id = ids[q * K + r];
      out.push({id: id, key: keyOfId(id), score: scores[q * K + r] / scale,
        j: id < total ? idToJ[id] : -1});
    }
    return out;
  }
  // shown metadata columns (titles, genres): one array per column for the drawn points, and one
  // for the undrawn neighbors (other_ids, ascending row ids); null where a value is missing
  var M = D.meta || null;
  var mCols = M ? M.columns : [], mVals = M ? M.values : [], mOther = M ? M.other : [];
  var mOtherIds = M ? dec(M.other_ids, Int32Array) : new Int32Array(0);
  function metaOf(id) {  // [value or null per shown column] of a row id
    var j = id >= 0 && id < total ? idToJ[id] : -1;
    if (j >= 0) { return mVals.map(function (c) { return c[j]; }); }
    var p = bsearch(mOtherIds, id);
    return mOther.map(function (c) { return p >= 0 ? c[p] : null; });
  }
  function clip(v) {  // one line, at most 80 characters (as the figure's hover text)
    var t = String(v).split(/\s+/).filter(Boolean).join(" ");
    return t.length <= 80 ? t : t.slice(0, 79) + "\u2026";
  }
  function metaText(values) {  // "title · genres" (missing values left out)
    return values.filter(function (v) { return v !== null && v !== undefined; }).map(clip)
      .join(" \u00b7 ");
  }
  function withMeta(key, values) {  // "key · title · genres", as the figure's hover text
    var t = metaText(values);
    return t ? key + " \u00b7 " + t : key;
  }
  function hoverOf(j) { return M ? withMeta(keys[j], metaOf(rank[j] - 1)) : keys[j]; }
  function labelOf(j) {  // the text drawn on the map: the first shown column, else the key
    var v = M && mVals.length ? mVals[0][j] : null;
    return v === null || v === undefined ? keys[j] : v;
  }
  function labelOfId(id, key) {
    var v = M && mCols.length ? metaOf(id)[0] : null;
    return v === null || v === undefined ? key : v;
  }
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/%/g, "&#37;");
  }
  // text drawn on the map: SVG reads entities (esc); 3D WebGL text reads none, but takes <b>,
  // <i>, <sub>, <sup> and <br> as formatting, which a zero-width space after each < prevents
  function mapText(s) { return dim === 3 ? String(s).replace(/</g, "<\u200b") : esc(s); }
  function fmt(v) { return v.toLocaleString("en-US"); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }

  // -- traces ----------------------------------------------------------------------------------
  var role = {}, pointTraces = [], baseOpacity = {}, groupDim = {};
  gd.data.forEach(function (t, i) {
    var r = (t.meta || {}).role;
    if (r === "points") {
      pointTraces.push(i);
      baseOpacity[i] = (t.marker && t.marker.opacity) || 0.7;
    } else if (r) { role[r] = i; }
  });
  function jOfPoint(pt) {
    var r = pt && pt.customdata;
    if (Array.isArray(r)) { r = r[0]; }
    if (typeof r !== "number" || !(r >= 1 && r <= total)) { return -1; }
    return idToJ[r - 1];
  }
  var focusJ = -1, dimmed = false, focusSet = new Uint8Array(n);
  // Changes made inside batched() reach plotly.js as ONE Plotly.update: every restyle or
  // relayout redraws the whole scene, which takes a second or more for 100,000 WebGL points
  // in software rendering; a click changes four or five things at once.
  var pending = null;
  function restyle(u, traces) {
    if (!pending) { return Plotly.restyle(gd, u, traces); }
    pending.items.push([u, traces]);
  }
  function relayout(l) {
    if (!pending) { return Plotly.relayout(gd, l); }
    Object.keys(l).forEach(function (k) { pending.layout[k] = l[k]; });
  }
  function batched(fn) {
    pending = {items: [], layout: {}};
    try { fn(); } finally {
      var b = pending;
      pending = null;
      var traces = [], at = {}, data = {};
      b.items.forEach(function (it) {
        it[1].forEach(function (t) { if (!(t in at)) { at[t] = traces.length; traces.push(t); } });
      });
      b.items.forEach(function (it) {
        var u = it[0], ts = it[1];
        Object.keys(u).forEach(function (attr) {
          if (!data[attr]) { data[attr] = new Array(traces.length); }  // undefined: left as is
          ts.forEach(function (t, p) {
            var v = u[attr];
            data[attr][at[t]] = Array.isArray(v) ? v[p % v.length] : v;
          });
        });
      });
      var zoomed = Object.keys(b.layout).length > 0;
      if (traces.length || zoomed) { Plotly.update(gd, data, b.layout, traces); }
      if (zoomed) { scheduleThin(); }  // Plotly.update emits no plotly_relayout: thin for the new view
    }
  }
  function applyOpacity() {
    var ops = pointTraces.map(function (i) {
      var o = groupDim[i] ? 0.06 : baseOpacity[i];
      return dimmed ? Math.min(o, 0.18) : o;
    });
    if (pointTraces.length) {
      restyle({"marker.opacity": ops}, pointTraces);
    }
  }
  var overlayJs = {};  // the points of each overlay that carries text (mark, nbrs)
  function setOverlay(name, js, text, extra) {
    var i = role[name];
    if (i === undefined) { return; }
    overlayJs[name] = text ? js.filter(function (j) { return j !== null; }) : [];
    var u = {x: [js.map(function (j) { return j === null ? null : X[j]; })],
      y: [js.map(function (j) { return j === null ? null : Y[j]; })]};
    if (dim === 3) { u.z = [js.map(function (j) { return j === null ? null : Z[j]; })]; }
    u.customdata = [js.map(function (j) { return j === null ? null : rank[j]; })];
    u.text = [text ? js.map(function (j) { return j === null ? "" : mapText(labelOf(j)); }) : []];
    if (M || dim === 3) {  // the hover of a trace whose text is a label (or WebGL text)
      u.hovertext = [text ? js.map(function (j) { return j === null ? "" : esc(hoverOf(j)); }) : []];
    }
    if (extra) { Object.keys(extra).forEach(function (k) { u[k] = extra[k]; }); }
    restyle(u, [i]);
  }

  // -- the hash (deep links) -------------------------------------------------------------------
  var sel = new Uint8Array(n), selCount = 0, muted = 0;
  function writeHash() {
    var parts = [];
    if (focusJ >= 0) { parts.push("key=" + encodeURIComponent(keys[focusJ])); }
    if (selCount > 0 && selCount <= 500) {
      var ks = [];
      for (var j = 0; j < n; j++) { if (sel[j]) { ks.push(encodeURIComponent(keys[j])); } }
      parts.push("select=" + ks.join(","));
    }
    try { history.replaceState(null, "", location.href.split("#")[0] + (parts.length ? "#" + parts.join("&") : "")); } catch (e) { /* file: URLs */ }
  }
  function readHash() {
    var h = (location.hash || "").replace(/^#/, "");
    var out = {};
    h.split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq > 0) { out[part.slice(0, eq)] = part.slice(eq + 1); }
    });
    return out;
  }
  var keyToJ = null;
  function jOfKey(key) {
    if (keyToJ === null) {
      keyToJ = new Map();
      for (var j = n - 1; j >= 0; j--) { keyToJ.set(keys[j], j); }
    }
    var j2 = keyToJ.get(key);
    return j2 === undefined ? -1 : j2;
  }

  // -- the panel -------------------------------------------------------------------------------
  var focusBox = el("div"), selBox = el("div"), helpBox = el("div", null, "muted");
  helpBox.appendChild(el("p", "Click a point for its nearest neighbors in the original space. " +
    "Box or lasso (toolbar) or shift-click to select. Search by key, prefix or /regex/" +
    (M && mCols.length ? ", or by any part of " + mCols.join(", ") + " (any case). Filters: COLUMN=VALUE, " +
      "COLUMN!=VALUE, COLUMN>NUMBER (or >=, <, <=), several at once (all must hold), then Enter selects the " +
      "drawn points that pass. \"Colour by\" (top right) colours the map by a column." : ".")));
  var msgBox = el("div", null, "muted");
  msgBox.id = "embviz-msg";
  panel.textContent = "";
  panel.appendChild(focusBox);
  panel.appendChild(selBox);
  panel.appendChild(msgBox);
  panel.appendChild(helpBox);

  function whyNoList(key) {
    if (!K) { return D.why; }
    return "No neighbor list in this page for '" + key + "': lists were computed for the " +
      fmt(nbrRows.length) + " most frequent drawn points. Re-plot with --neighbors-for N " +
      "(N above " + fmt(nbrRows.length) + "), or run: embviz neighbors " + key + " -k " + K;
  }
  function where() {
    if (CMP) { return CMP.scope; }
    var what = METRIC === "dot" ? "dot product" : METRIC === "euclidean"
      ? "euclidean distance, scores negated" : "cosine";
    return D.restrict ? what + " over the first " + fmt(D.restrict) + " keys of the file"
      : what + " over all " + fmt(total) + " keys of the file";
  }
  function showFocus(j) {
    focusBox.textContent = "";
    var h = el("h3", keys[j]);
    h.id = "embviz-focus-key";
    focusBox.appendChild(h);
    focusBox.appendChild(el("div", "rank " + fmt(rank[j]) + " · drawn", "muted"));
    if (M) { focusBox.appendChild(metaTable(rank[j] - 1)); }
    var list = neighborsOf(j);
    if (!list && API && !CMP) {
      serverNeighbors(keys[j], keys[j]);
      return null;
    }
    if (!list) {
      focusBox.appendChild(el("p", whyNoList(keys[j]), "embviz-why"));
      return null;
    }
    if (!CMP) {
      focusBox.appendChild(el("p", K + " nearest neighbors in the original space (" + where() +
        (D.search ? "), from the index, " + D.search + ", as embviz neighbors --index prints them:"
          : "), as embviz neighbors" + (METRIC === "cosine" ? "" : " --metric " + METRIC) +
          " prints them:"), "muted"));
      focusBox.appendChild(neighborTable(list, "embviz-neighbors", null, ""));
      return list;
    }
    var listB = neighborsOf(j, true), inA = {}, inB = {};
    list.forEach(function (nb) { inA[nb.id] = 1; });
    listB.forEach(function (nb) { inB[nb.id] = 1; });
    var c = cmpCos[j];
    var fig = el("p", "Jaccard@" + K + " " + cmpJac[j].toFixed(3) + " · cosine after alignment " +
      (isNaN(c) ? "n/a" : c.toFixed(4)) + " · rank in B " + fmt(cmpRankB[j]));
    fig.id = "embviz-compare";
    focusBox.appendChild(fig);
    focusBox.appendChild(el("p", K + " nearest neighbors in each table (" + where() +
      "), as embviz diff compares them; * is in both lists:", "muted"));
    focusBox.appendChild(el("h4", "A: " + CMP.a));
    focusBox.appendChild(neighborTable(list, "embviz-neighbors", inB, "also a neighbor in B"));
    focusBox.appendChild(el("h4", "B: " + CMP.b));
    focusBox.appendChild(neighborTable(listB, "embviz-neighbors-b", inA, "also a neighbor in A"));
    return list;
  }
  function metaTable(id) {  // the shown columns of one row id: name, value
    var table = el("table");
    table.id = "embviz-focus-meta";
    metaOf(id).forEach(function (v, c) {
      var tr = el("tr");
      tr.appendChild(el("td", mCols[c], "muted"));
      tr.appendChild(el("td", v === null ? "(none)" : v, v === null ? "muted" : "meta"));
      table.appendChild(tr);
    });
    return table;
  }
  function neighborTable(list, id, both, bothTitle) {  // both: ids in the other list (diff)
    var table = el("table", null, "embviz-nbrs");
    table.id = id;
    // fixed layout: the rank, score and status columns as wide as their longest text (never
    // wrapped, never pushed out of the panel by a long key or title); the key and the shown
    // columns share the rest (a long key is cut with an ellipsis when titles are shown)
    var widest = function (texts) {
      return Math.max.apply(null, texts.map(function (t) { return t.length; })) + 1 + "ch";
    };
    var widths = [widest([String(list.length)])];  // set on the first row's cells
    var keyCh = widest(list.map(function (nb) { return nb.key === null ? "(row)" : nb.key; }));
    widths.push(M ? (parseFloat(keyCh) <= 12 ? keyCh : "16%") : null);  // titles shown: ids are short
    widths.push(widest(list.map(function (nb) { return nb.score.toFixed(4); })));
    if (both) { widths.push("2ch"); }
    widths.push(widest(list.map(function (nb) { return nb.j >= 0 ? "drawn" : "not drawn"; })));
    mCols.forEach(function (name, c) { widths.push(c ? "16%" : null); });  // the first (a title): the rest
    list.forEach(function (nb, r) {
      var tr = el("tr", null, "nbr");
      tr.appendChild(el("td", String(r + 1), "muted"));
      var kd = el("td", nb.key === null ? "(row " + (nb.id + 1) + ")" : nb.key, "key");
      kd.title = kd.textContent;  // the whole key, when the cell cuts it
      tr.appendChild(kd);
      tr.appendChild(el("td", nb.score.toFixed(4), "score"));
      if (both) {
        var shared = both[nb.id] === 1;
        var bd = el("td", shared ? "*" : "", "both");
        if (shared) { bd.title = bothTitle; }
        tr.appendChild(bd);
      }
      tr.appendChild(el("td", nb.j >= 0 ? "drawn" : "not drawn", nb.j >= 0 ? "drawn" : "muted status"));
      if (M) {  // the shown columns, after the columns every page has
        metaOf(nb.id).forEach(function (v, c) {
          var md = el("td", v === null ? "" : v, "meta");
          md.title = mCols[c];
          tr.appendChild(md);
        });
      }
      if (r === 0) {
        [].forEach.call(tr.children, function (td, c) { if (widths[c]) { td.style.width = widths[c]; } });
      }
      tr.title = nb.j >= 0 ? "go to this point" : "in the file, not in this plot";
      tr.addEventListener("click", function () {
        if (nb.j >= 0) { focus(nb.j, true); } else { showNotDrawn(nb.key, nb.id + 1); }
      });
      table.appendChild(tr);
    });
    return table;
  }
  function showNotDrawn(key, rk) {
    focusBox.textContent = "";
    var h = el("h3", key);
    h.id = "embviz-focus-key";
    focusBox.appendChild(h);
    if (rk === null) {  // an expression typed in the search box (served pages only)
      focusBox.appendChild(el("div", "an expression of keys", "muted"));
    } else if (API) {
      focusBox.appendChild(el("div", "rank " + fmt(rk) + " · not drawn", "muted"));
    } else {
      focusBox.appendChild(el("p", "rank " + fmt(rk) + " · in the file, not in this plot: " +
        "re-plot with --around " + key, "embviz-why"));
    }
    if (M && rk !== null) { focusBox.appendChild(metaTable(rk - 1)); }
    if (API && rk !== null && dim === 2) {
      var add = button(placedAt(key) ? "On the map (added)" : "Add to the map", function () { addToMap(key); });
      add.id = "embviz-place";
      focusBox.appendChild(add);
    }
    if (API) { serverNeighbors(key, key); }
  }
  // -- add a key that is not drawn to the map (served pages: POST /api/place) ---------------------
  // it goes at the similarity-weighted mean of its 10 nearest drawn keys, as UMAP's transform
  // starts a new point; nothing else moves
  var added = [], addedTrace = -1;
  function placedAt(key) { return added.filter(function (a) { return a.key === key; })[0] || null; }
  function addToMap(key) {
    var have = placedAt(key);
    if (have) { centreOn(have.x, have.y); return; }
    var note = el("p", "placing " + key + " among the " + fmt(n) + " drawn keys ...", "muted");
    note.id = "embviz-place-note";
    focusBox.appendChild(note);
    apiPost("place", {keys: [key], among: keys, k: 10}, function (body, error) {
      if (!body) { note.textContent = "could not place it: " + error; return; }
      var nb = body.rows[0].neighbors, sw = 0, x = 0, y = 0;
      nb.forEach(function (r) {
        var j = jOfKey(r.key), w = Math.max(r.score, 0);
        if (j >= 0) { x += w * X[j]; y += w * Y[j]; sw += w; }
      });
      if (!(sw > 0)) {  // no similar drawn key: the plain mean
        nb.forEach(function (r) { var j = jOfKey(r.key); if (j >= 0) { x += X[j]; y += Y[j]; sw += 1; } });
      }
      if (!(sw > 0)) { note.textContent = "could not place it: no drawn key to place it by"; return; }
      var a = {key: key, x: x / sw, y: y / sw, neighbors: nb.map(function (r) { return [r.key, r.score]; })};
      added.push(a);
      note.textContent = "added at the similarity-weighted mean of its " + nb.length + " nearest drawn keys (" +
        nb.slice(0, 3).map(function (r) { return r.key; }).join(", ") + ", ...)";
      drawAdded();
      centreOn(a.x, a.y);
      var b = document.getElementById("embviz-place");
      if (b) { b.textContent = "On the map (added)"; }
    });
  }
  function drawAdded() {
    var t = {x: added.map(function (a) { return a.x; }), y: added.map(function (a) { return a.y; }),
      text: added.map(function (a) { return mapText(a.key); }), hovertext: added.map(function (a) { return esc(a.key); })};
    if (addedTrace >= 0) { Plotly.deleteTraces(gd, addedTrace); }
    Plotly.addTraces(gd, {type: "scatter", mode: "markers+text", x: t.x, y: t.y, text: t.text, hovertext: t.hovertext,
      hoverinfo: "text", textposition: "top center", textfont: {size: 12, color: "#b00"}, showlegend: false,
      name: "added", meta: {role: "added"}, marker: {symbol: "star", size: 13, color: "#d62728",
        line: {width: 1, color: "#fff"}}});
    addedTrace = gd.data.length - 1;
  }
  function centreOn(x, y) {  // at most 1/8 of the full map across, as the chosen point's view
    var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    var w = Math.abs(xa.range[1] - xa.range[0]), hgt = Math.abs(ya.range[1] - ya.range[0]);
    var fw = (fullX[1] - fullX[0]) / 8, fh = (fullY[1] - fullY[0]) / 8;
    if (w > fw) { hgt = hgt * fw / w; w = fw; }
    if (hgt > fh * 1.5) { w = w * fh / hgt; hgt = fh; }
    relayout({"xaxis.range": [x - w / 2, x + w / 2], "yaxis.range": [y - hgt / 2, y + hgt / 2]});
  }
  var asked = 0;  // the latest panel request: an older answer arriving late is dropped
  // a request whose answer fills the panel: a waiting line, then show(body), or the server's one line
  function askServer(path, params, waiting, show) {
    var mine = ++asked;
    var wait = el("p", waiting, "muted");
    wait.id = "embviz-server-wait";
    focusBox.appendChild(wait);
    apiGet(path, params, function (body, error) {
      if (mine !== asked || !focusBox.contains(wait)) { return; }
      wait.remove();
      if (!body) {
        var p = el("p", error, "embviz-why");
        p.id = "embviz-server-error";
        focusBox.appendChild(p);
        return;
      }
      show(body);
    });
  }
  function showServerList(list) {  // [{id, key, score, j}] in the panel, the drawn ones marked on the map
    focusBox.appendChild(neighborTable(list, "embviz-neighbors", null, ""));
    var drawn = list.filter(function (nb) { return nb.j >= 0; });
    if (drawn.length) {
      batched(function () { setOverlay("nbrs", drawn.map(function (nb) { return nb.j; }), true); });
    }
  }
  function serverNeighbors(query, shownKey) {
    var k = K || 10;
    askServer("neighbors", {q: query, k: k}, "asking the server for the " + k + " nearest neighbors ...",
      function (body) {
        var how = body.search && body.search !== "exact" ? ", from the server's index, " + body.search +
          ", as embviz neighbors --index" : ", from the server, as embviz neighbors";
        focusBox.appendChild(el("p", k + " nearest neighbors over all " + fmt(total) + " keys (" + body.metric +
          ")" + how + (body.metric === "cosine" ? "" : " --metric " + body.metric) + " prints them:", "muted"));
        showServerList(body.rows.map(function (r) { return {id: r.id, key: r.key, score: r.score, j: jOfKey(r.key)}; }));
      });
  }
  // -- a user's recommendations (served with --users or --history: GET /api/recommend) ------------
  var canRecommend = false, hasHistory = false;
  if (API) {
    apiGet("info", {}, function (b) {
      if (!b || !b.recommend) { return; }
      canRecommend = true;
      hasHistory = !!b.history;  // then what a user has seen is left out, as implicit's recommend does
      input.placeholder += ", or user:ID";
      helpBox.appendChild(el("p", "Type user:ID and Enter for the items recommended to that user " +
        "(as embviz recommend; drawn ones are marked on the map)."));
    });
  }
  function showRecommendations(user) {
    matchesEl.style.display = "none";
    clearFocus();
    focusBox.textContent = "";
    var h = el("h3", "user " + user);
    h.id = "embviz-focus-key";
    focusBox.appendChild(h);
    var k = K || 10, ask = {user: user, k: k};
    if (hasHistory) { ask.exclude_seen = 1; }
    askServer("recommend", ask, "asking the server for the " + k + " items recommended to " + user + " ...",
      function (body) {
        var note = el("p", body.rows.length + " items recommended over all " + fmt(total) + " (" + body.search +
          "), from the server, as embviz recommend prints them:", "muted");
        note.id = "embviz-recommend-note";
        focusBox.appendChild(note);
        showServerList(body.rows.map(function (r) { return {id: r.id, key: r.item, score: r.score, j: jOfKey(r.item)}; }));
      });
  }
  function clearFocus() {
    focusJ = -1;
    focusBox.textContent = "";
    dimmed = false;
    focusSet.fill(0);
    batched(function () {
      setOverlay("mark", [], false);
      setOverlay("nbrs", [], false);
      setOverlay("nbr-lines", [], false);
      applyOpacity();
      thinNow();
    });
    writeHash();
  }
  function centre(j) {
    if (dim === 2) { centreOn(X[j], Y[j]); }
  }
  function focus(j, move) {
    focusJ = j;
    var list = showFocus(j);  // the panel first: it is what the user waits for
    writeHash();
    setTimeout(function () {
      var drawn = list ? list.filter(function (nb) { return nb.j >= 0; }) : [];
      focusSet.fill(0);
      focusSet[j] = 1;
      drawn.forEach(function (nb) { focusSet[nb.j] = 1; });
      batched(function () {
        setOverlay("mark", [j], true);
        setOverlay("nbrs", drawn.map(function (nb) { return nb.j; }), true);
        var lines = [];
        drawn.forEach(function (nb) { lines.push(j, nb.j, null); });
        setOverlay("nbr-lines", lines, false);
        dimmed = true;
        applyOpacity();
        if (move) { centre(j); } else { thinNow(); }  // same view: labels in the same update
      });
    }, 0);
  }

  // -- selection -------------------------------------------------------------------------------
  function selectedJs() {
    var out = [];
    for (var r = 0; r < n; r++) { var j = byRank[r]; if (sel[j]) { out.push(j); } }
    return out;
  }
  function download(name, text) {
    var blob = new Blob([text], {type: "text/tab-separated-values;charset=utf-8"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function num(v) { return String(parseFloat(v.toPrecision(6))); }
  function cell(v) { return v === null || v === undefined ? "" : String(v).replace(/[\t\r\n]+/g, " "); }
  function selectionTSV() {
    var head = dim === 3 ? "key\trank\tx\ty\tz" : "key\trank\tx\ty";
    if (M) { head += "\t" + M.names.map(cell).join("\t"); }  // shown columns after the others
    var lines = [head];
    selectedJs().forEach(function (j) {
      var row = [keys[j], rank[j], num(X[j]), num(Y[j])];
      if (dim === 3) { row.push(num(Z[j])); }
      if (M) { mVals.forEach(function (c) { row.push(cell(c[j])); }); }
      lines.push(row.join("\t"));
    });
    return lines.join("\n") + "\n";
  }
  function copyText(text) {
    function fallback() {
      var ta = document.createElement("textarea");
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      ta.remove();
      return ok;
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, fallback);
    }
    return Promise.resolve(fallback());
  }
  function button(label, fn) {
    var b = el("button", label);
    b.type = "button";
    b.addEventListener("click", fn);
    return b;
  }
  function showSelection() {
    selBox.textContent = "";
    if (!selCount) { return; }
    var h = el("h3", "Selection: " + fmt(selCount) + " point" + (selCount === 1 ? "" : "s"));
    h.id = "embviz-sel-size";
    selBox.appendChild(h);
    var bar = el("div");
    bar.appendChild(button("Download TSV", function () {
      download("embviz-selection.tsv", selectionTSV());
    }));
    bar.appendChild(button("Copy keys", function () {
      var ks = selectedJs().map(function (j) { return keys[j]; });
      copyText(ks.join("\n") + "\n").then(function (ok) {
        msgBox.textContent = ok ? "copied " + fmt(ks.length) + " keys, one per line"
          : "the browser refused the clipboard; use Download TSV";
      });
    }));
    bar.appendChild(button("Invert", function () {
      var js = [];
      for (var j = 0; j < n; j++) { if (!sel[j]) { js.push(j); } }
      setSelection(js);
    }));
    bar.appendChild(button("Clear", function () { setSelection([]); }));
    selBox.appendChild(bar);
    if (API) {  // served: the server lays the selection out again on its own (PCA or UMAP)
      var again = el("div");
      var how = el("select");
      how.id = "embviz-relayout-method";
      ["umap", "pca"].forEach(function (m) { var o = el("option", m.toUpperCase()); o.value = m; how.appendChild(o); });
      how.value = relayoutMethod;
      how.addEventListener("change", function () { relayoutMethod = how.value; });
      var go = button("Lay out again", function () { layOutAgain(how.value); });
      go.id = "embviz-relayout-go";
      again.appendChild(go);
      again.appendChild(how);
      selBox.appendChild(again);
      var st = el("div", relayoutText, "muted");
      st.id = "embviz-relayout-status";
      selBox.appendChild(st);
    }
    var shown = selectedJs().slice(0, 1000).map(hoverOf);
    var pre = el("div", shown.join("\n"));
    pre.id = "embviz-selkeys";
    selBox.appendChild(pre);
    if (selCount > shown.length) {
      selBox.appendChild(el("div", "... and " + fmt(selCount - shown.length) + " more (all in the download)", "muted"));
    }
  }
  // -- lay out the selection again (served pages: POST /api/layout, then poll its job) -----------
  var relayoutMethod = "umap", relayoutText = "", relayoutState = {status: "none"}, relayoutBox = null;
  function apiPost(path, body, done) {  // done(body) on 2xx, done(null, message) otherwise
    var url = API.base + "/" + path + (API.token ? "?token=" + encodeURIComponent(API.token) : "");
    fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().then(function (b) { return r.ok ? done(b) : done(null, b.error || r.statusText); });
      }).catch(function (e) { done(null, String(e)); });
  }
  function relayoutStatus(text) {
    relayoutText = text;
    var s = document.getElementById("embviz-relayout-status");
    if (s) { s.textContent = text; }
  }
  function layOutAgain(method) {
    var js = selectedJs();
    if (js.length < 3) { relayoutStatus("select at least 3 points to lay them out again"); return false; }
    var ks = js.map(function (j) { return keys[j]; });
    var name = method.toUpperCase(), started = performance.now();
    relayoutState = {status: "queued", method: method, count: ks.length};
    relayoutStatus("laying out " + fmt(ks.length) + " keys with " + name + " ...");
    function failed(error) {
      relayoutState = {status: "error", method: method, count: ks.length, error: error};
      relayoutStatus("could not lay them out again: " + error);
    }
    function poll(job) {
      apiGet("layout", {job: job}, function (b, error) {
        if (!b) { failed(error); return; }
        if (b.status === "error") { failed(b.error); return; }
        relayoutState = {status: b.status, method: method, count: b.count, stage: b.stage, done: b.done,
          total: b.total, seconds: b.seconds};
        if (b.status === "done") {
          relayoutStatus("laid out " + fmt(b.count) + " keys with " + name + " in " + b.seconds.toFixed(1) + " s" +
            (b.cached ? " (from the layout cache)" : ""));
          showRelayout(b, name);
          return;
        }
        var step = b.total ? " " + fmt(b.done) + " of " + fmt(b.total) : "";
        relayoutStatus("laying out " + fmt(b.count) + " keys with " + name + ": " + b.stage + step + ", " +
          ((performance.now() - started) / 1000).toFixed(1) + " s");
        setTimeout(function () { poll(job); }, 250);
      });
    }
    apiPost("layout", {keys: ks, method: method}, function (body, error) {
      if (!body) { failed(error); return; }
      poll(body.job);
    });
    return true;
  }
  // the labels of the re-laid-out map: most frequent keys first, each kept only where it overlaps
  // no label already kept and stays inside the plot (as the main map thins its labels)
  function relabel(pd, rows, js) {
    var xa = pd._fullLayout.xaxis, ya = pd._fullLayout.yaxis, W = xa._length, H = ya._length;
    var order = rows.map(function (r, i) { return i; }).sort(function (a, c) {
      return (js[a] >= 0 ? rank[js[a]] : Infinity) - (js[c] >= 0 ? rank[js[c]] : Infinity) || a - c;
    });
    // a hidden label is " ", not "": plotly.js (2.x) draws no text element for "", and a later
    // restyle does not create one, so a label once hidden would never come back on zoom
    var kept = [], text = rows.map(function () { return " "; }), size = 11, h = size * 1.3;
    ruler.font = size + "px " + family;
    order.forEach(function (i) {
      if (kept.length >= 200) { return; }
      var label = js[i] >= 0 ? labelOf(js[i]) : rows[i].key;
      var px = xa.l2p(rows[i].x), py = ya.l2p(rows[i].y), w = ruler.measureText(String(label)).width + 4;
      var box = [px - w / 2, py - 6 - h, px + w / 2, py - 6];  // centred above the marker
      if (box[0] < 0 || box[2] > W || box[1] < 0 || py > H) { return; }
      for (var t = 0; t < kept.length; t++) {
        var o = kept[t];
        if (box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3]) { return; }
      }
      kept.push(box);
      text[i] = mapText(label);
    });
    Plotly.restyle(pd, {text: [text]}, [0]);
    relayoutState.labels = text.filter(function (s) { return s !== " "; }).length;
  }
  function closeRelayout() { if (relayoutBox) { relayoutBox.style.display = "none"; } }
  function showRelayout(b, name) {
    if (!relayoutBox) {
      relayoutBox = el("div");
      relayoutBox.id = "embviz-relayout";
      var head = el("div");
      head.id = "embviz-relayout-head";
      var title = el("span");
      title.id = "embviz-relayout-title";
      head.appendChild(title);
      var close = button("Back to the map", closeRelayout);
      close.id = "embviz-relayout-close";
      head.appendChild(close);
      relayoutBox.appendChild(head);
      var pd = el("div");
      pd.id = "embviz-relayout-plot";
      relayoutBox.appendChild(pd);
      document.body.appendChild(relayoutBox);
    }
    relayoutBox.style.display = "block";
    document.getElementById("embviz-relayout-title").textContent = "The selection laid out again: " +
      fmt(b.count) + " keys, " + name + (b.recall === null || b.recall === undefined ? "" :
      ", trust recall@10 " + b.recall.toFixed(3)) + ". Click a point to find it on the map.";
    var js = b.rows.map(function (r) { return jOfKey(r.key); });
    var trace = {
      type: b.rows.length > 2000 ? "scattergl" : "scatter", mode: "markers+text",
      x: b.rows.map(function (r) { return r.x; }), y: b.rows.map(function (r) { return r.y; }),
      text: b.rows.map(function () { return " "; }),  // see relabel
      hovertext: b.rows.map(function (r, i) { return esc(js[i] >= 0 ? hoverOf(js[i]) : r.key); }),
      hoverinfo: "text", textposition: "top center", textfont: {size: 11},
      customdata: b.rows.map(function (r) { return r.key; }), marker: {size: 6, color: "#1f77b4"}
    };
    var pd = document.getElementById("embviz-relayout-plot");
    Plotly.newPlot(pd, [trace], {margin: {l: 40, r: 10, t: 10, b: 30}, showlegend: false, hovermode: "closest",
      xaxis: {zeroline: false}, yaxis: {zeroline: false, scaleanchor: "x"}},
      {displaylogo: false, responsive: true}).then(function () {
      pd.removeAllListeners && pd.removeAllListeners("plotly_click");
      pd.on("plotly_click", function (ev) {
        var j = ev.points && ev.points.length ? jOfKey(ev.points[0].customdata) : -1;
        if (j >= 0) { closeRelayout(); focus(j, true); }
      });
      relabel(pd, b.rows, js);
      pd.on("plotly_relayout", function () { relabel(pd, b.rows, js); });  // zoom, pan: other labels fit
      relayoutState.points = b.rows.map(function (r) { return [r.key, r.x, r.y]; });
      relayoutState.recall = b.recall;
      relayoutState.cached = b.cached;
    });
  }
  // -- metadata filters (explorer_filter.js): genres=Comedy year<2000 and Enter selects the drawn
  // points where every condition holds; an unknown column or a comparison with a value that is
  // not a number is one line, beside the search box and in the panel
  function filterConds(conds) {
    var got = EmbvizFilter.select(conds, mVals, n);
    if (got.error) { return filterError(got.error); }
    setSelection(got.js);
    msgBox.textContent = "filter " + EmbvizFilter.describe(conds) + ": " + fmt(got.js.length) + " of " +
      fmt(n) + " drawn points selected";
    return got.js.length;
  }
  function filterError(text) {
    msgBox.textContent = text;
    foundEl.textContent = text;
    return -1;
  }
  function filterText(text) {  // count selected, or -1 (the message says why)
    var f = EmbvizFilter.parse(text, mCols);
    if (!f) { return filterError("not a filter: type COLUMN=VALUE, COLUMN!=VALUE or COLUMN>=NUMBER (< <= > >=)"); }
    return f.error ? filterError(f.error) : filterConds(f.conds);
  }
  function filterBy(column, value) {
    var c = mCols.map(function (x) { return x.toLowerCase(); }).indexOf(String(column).toLowerCase());
    if (c < 0) { return filterError("no shown column '" + column + "' (columns: " + mCols.join(", ") + ")"); }
    return filterConds([{c: c, column: mCols[c], op: "=", value: value, low: String(value).toLowerCase(),
      num: NaN}]);
  }
  function filterPreview(text) {  // the search box's note while a filter is typed (null: not one)
    var f = M ? EmbvizFilter.parse(text, mCols) : null;
    if (!f) { return null; }
    if (f.error) { return f.error; }
    var got = EmbvizFilter.select(f.conds, mVals, n);
    return got.error || "filter: " + fmt(got.js.length) + " of " + fmt(n) + " drawn points (Enter selects them)";
  }
  function setSelection(js, keepNative) {
    sel.fill(0);
    js.forEach(function (j) { sel[j] = 1; });
    selCount = 0;
    for (var j = 0; j < n; j++) { selCount += sel[j]; }
    if (!keepNative) {  // drop plotly's own box/lasso state; its events are ours, not the user's
      muted++;
      var done = function () { setTimeout(function () { muted--; }, 50); };
      try {
        var pr = Plotly.restyle(gd, {selectedpoints: pointTraces.map(function () { return null; })}, pointTraces);
        if (gd._fullLayout.selections && gd._fullLayout.selections.length) {
          pr = Plotly.relayout(gd, {selections: []});
        }
        Promise.resolve(pr).then(done, done);
      } catch (e) { done(); }
    }
    setOverlay("selection", selectedJs(), false);
    showSelection();
    updateStatus();
    writeHash();
    tellParent();
  }
  // in a notebook the page runs in an iframe (embviz.viz.notebook): the selected keys go to the
  // widget around it, which hands them to Python (Explorer.selection)
  function tellParent() {
    if (window.parent === window) { return; }
    try {
      window.parent.postMessage({embviz: "selection", keys: selectedJs().map(function (j) { return keys[j]; })}, "*");
    } catch (e) { /* no parent to tell */ }
  }

  // -- search ----------------------------------------------------------------------------------
  var current = [], active = 0;
  function search(text) {
    text = String(text || "");
    if (!text.trim()) { return {matches: [], note: ""}; }
    var out = [], seen = new Set();
    function add(key, rk, j) {
      if (!seen.has(rk)) { seen.add(rk); out.push({key: key, rank: rk, j: j}); }
    }
    var re = /^\/(.+)\/([imsu]*)$/.exec(text), test, inMeta = null;
    if (re) {
      var rx;
      try { rx = new RegExp(re[1], re[2]); } catch (e) { return {matches: [], note: "bad regular expression: " + e.message}; }
      test = function (k) { return rx.test(k); };
      if (M) { inMeta = function (v) { return v !== null && rx.test(v); }; }
    } else {
      if (M) {  // a shown column: case-insensitive substring
        var low = text.toLowerCase(), L0 = lowered();
        inMeta = function (v, c, p, undrawn) {
          var s = (undrawn ? L0.other : L0.drawn)[c][p];
          return s !== null && s.indexOf(low) >= 0;
        };
      }
      var jx = jOfKey(text);
      if (jx >= 0) { add(keys[jx], rank[jx], jx); }
      var px = other.indexOf(text);
      if (px >= 0) { add(text, otherIds[px] + 1, -1); }
      test = function (k) { return k.startsWith(text); };
    }
    var found = [];
    var more = false;
    function metaHit(cols, p, undrawn) {
      for (var c = 0; c < cols.length; c++) {
        if (inMeta(cols[c][p], c, p, undrawn)) { return true; }
      }
      return false;
    }
    for (var r = 0; r < n; r++) {
      var j = byRank[r];
      if (test(keys[j]) || (inMeta && metaHit(mVals, j, false))) {
        found.push({key: keys[j], rank: rank[j], j: j});
        if (found.length >= 100) { more = true; break; }
      }
    }
    var found2 = [];
    for (var p = 0; p < other.length; p++) {
      if (test(other[p])) {
        found2.push({key: other[p], rank: otherIds[p] + 1, j: -1});
        if (found2.length >= 100) { more = true; break; }
      }
    }
    for (var p2 = 0; inMeta && p2 < mOtherIds.length && found2.length < 200; p2++) {
      if (metaHit(mOther, p2, true)) {  // an undrawn neighbor, by its shown columns
        var kk = keyOfId(mOtherIds[p2]);
        if (kk !== null) { found2.push({key: kk, rank: mOtherIds[p2] + 1, j: -1}); }
      }
    }
    found = found.concat(found2).sort(function (a, b) { return a.rank - b.rank; });
    found.forEach(function (m) { add(m.key, m.rank, m.j); });
    if (out.length > 100) { more = true; out = out.slice(0, 100); }
    var note = out.length ? (more ? "first 100 matches" : out.length + " match" + (out.length === 1 ? "" : "es"))
      : (M ? "no match (key, " + mCols.join(", ") + ")"
        : D.other_all || !total ? "no key matches" : "not drawn (this page lists only drawn keys and their neighbors)");
    return {matches: out, note: note};
  }
  var mLower = null;
  function lowered() {  // the shown columns in lower case, computed at the first search
    if (!mLower) {
      var lower = function (c) { return c.map(function (v) { return v === null ? null : String(v).toLowerCase(); }); };
      mLower = {drawn: mVals.map(lower), other: mOther.map(lower)};
    }
    return mLower;
  }
  function renderMatches(res) {
    current = res.matches;
    active = 0;
    matchesEl.textContent = "";
    var preview = current.length ? null : filterPreview(input.value);
    foundEl.textContent = preview === null ? res.note : preview;
    current.forEach(function (m, i) {
      var d = el("div", null, i === 0 ? "active" : "");
      d.appendChild(el("span", m.key, "key"));
      if (M) {
        var mv = metaText(metaOf(m.rank - 1));
        if (mv) { d.appendChild(el("span", "  " + mv, "meta")); }
      }
      d.appendChild(el("span", "  rank " + fmt(m.rank) + (m.j >= 0 ? "" : "  · not in this plot"), "muted"));
      d.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(m); });
      matchesEl.appendChild(d);
    });
    matchesEl.style.display = current.length ? "block" : "none";
  }
  function choose(m) {
    matchesEl.style.display = "none";
    if (m.j >= 0) { focus(m.j, true); } else {
      focusJ = -1;
      showNotDrawn(m.key, m.rank);
      writeHash();
    }
  }
  var searched = 0;  // the latest server search: an older answer arriving late is dropped
  function searchAll(text) {  // the page's matches, then (served) the server's over every key
    var res = search(text);
    renderMatches(res);
    if (!API || !String(text).trim() || res.matches.length >= 100) { return; }
    var mine = ++searched;
    apiGet("search", {q: text, limit: 100}, function (body) {
      if (mine !== searched || !body || input.value !== text) { return; }
      var have = new Set(res.matches.map(function (m) { return m.rank; }));
      var more = body.matches.filter(function (m) { return !have.has(m.rank); }).map(function (m) {
        var j = jOfKey(m.key);
        return {key: m.key, rank: m.rank, j: j};
      });
      var all = res.matches.concat(more).slice(0, 100);
      var of = Math.max(body.total, all.length);
      renderMatches({matches: all, note: all.length ? all.length + " of " + fmt(of) + " match" +
        (of === 1 ? "" : "es") + " over all " + fmt(total) + " keys" : "no key matches over all " + fmt(total) + " keys"});
    });
  }
  var typing = null;  // the search's debounce timer
  input.addEventListener("input", function () {
    if (typing) { clearTimeout(typing); }
    typing = setTimeout(function () { typing = null; searchAll(input.value); }, 60);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      if (typing) { clearTimeout(typing); typing = null; searchAll(input.value); }
      var filt = M ? EmbvizFilter.parse(input.value, mCols) : null;
      if (filt && (!current.length || !filt.error)) {  // 'genres=Comedy year<2000': select where all hold
        matchesEl.style.display = "none";
        if (filt.error) { filterError(filt.error); } else { filterConds(filt.conds); }
      } else if (current.length) {
        choose(current[active] || current[0]);
      } else if (API && canRecommend && /^user:./.test(input.value.trim())) {  // a user's recommendations
        showRecommendations(input.value.trim().slice(5).trim());
      } else if (API && /\s[-+]\s/.test(input.value)) {  // 'king - man + woman': its neighbors
        matchesEl.style.display = "none";
        focusJ = -1;
        showNotDrawn(input.value.trim(), null);
      }
      ev.preventDefault();
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (!current.length) { return; }
      active = (active + (ev.key === "ArrowDown" ? 1 : current.length - 1)) % current.length;
      [].forEach.call(matchesEl.children, function (c, i) { c.className = i === active ? "active" : ""; });
      ev.preventDefault();
    } else if (ev.key === "Escape") {
      matchesEl.style.display = "none";
    }
  });
  input.addEventListener("blur", function () { setTimeout(function () { matchesEl.style.display = "none"; }, 150); });
  input.addEventListener("focus", function () { if (current.length) { matchesEl.style.display = "block"; } });

  // -- labels: greedy by rank in screen space, never overlapping, never past the plot area ----
  var L = D.labels || 0;
  var RG = D.regions || null;  // named regions: x, y, text (raw), level (0 coarse, 1 fine)
  var labelTop = [];  // the figure's label trace: the L most frequent, in rank order
  for (var r1 = 0; r1 < Math.min(L, n); r1++) { labelTop.push(byRank[r1]); }
  var isTop = new Uint8Array(n);
  labelTop.forEach(function (j) { isTop[j] = 1; });
  // --highlight groups: each point is in one group (figure.py), its key drawn once, by it
  var hlTraces = [], hlSet = new Uint8Array(n);
  gd._fullData.forEach(function (t) {
    if ((t.meta || {}).role !== "highlight") { return; }
    var js = Array.from(t.customdata || []).map(function (r) { return idToJ[r - 1]; });
    var font = gd.data[t.index].textfont || {};  // (2D: markers only, so not in _fullData)
    js.forEach(function (j) { if (j >= 0) { hlSet[j] = 1; } });
    hlTraces.push({i: t.index, js: js, named: js.filter(function (j) { return j >= 0 && esc(keys[j]) === t.name; }),
      size: (font.size) || 12, color: font.color || "#000", marker: (t.marker && t.marker.size) || 10});
  });
  // text widths, measured in the font plotly.js draws with (SVG text, so the same fallback)
  var ruler = document.createElement("canvas").getContext("2d");
  var family = (gd._fullLayout.font && gd._fullLayout.font.family) || "sans-serif";
  var widthAt = {};
  function textWidth(j, size) {
    var w = widthAt[size] || (widthAt[size] = new Float32Array(n).fill(-1));
    if (w[j] < 0) {
      ruler.font = size + "px " + family;
      w[j] = ruler.measureText(String(labelOf(j))).width;
    }
    return w[j];
  }
  function thinLabels() {
    if (dim !== 2) { return; }
    if (pending) { placeLabels(); } else { batched(placeLabels); }  // one update either way
  }
  function placeLabels() {
    var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    var x0 = xa.range[0], x1 = xa.range[1], y0 = ya.range[0], y1 = ya.range[1];
    var W = xa._length, H = ya._length;
    var sx = W / (x1 - x0), sy = H / (y1 - y0);
    var cell = 48, grid = new Map(), boxes = [], pad = 2;
    function overlaps(b) {
      for (var gx = Math.floor(b[0] / cell); gx <= Math.floor(b[2] / cell); gx++) {
        for (var gy = Math.floor(b[1] / cell); gy <= Math.floor(b[3] / cell); gy++) {
          var list = grid.get(gx * 100003 + gy);
          if (!list) { continue; }
          for (var t = 0; t < list.length; t++) {
            var o = boxes[list[t]];
            if (b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3]) { return true; }
          }
        }
      }
      return false;
    }
    function put(b) {
      var idx = boxes.push(b) - 1;
      for (var gx = Math.floor(b[0] / cell); gx <= Math.floor(b[2] / cell); gx++) {
        for (var gy = Math.floor(b[1] / cell); gy <= Math.floor(b[3] / cell); gy++) {
          var k = gx * 100003 + gy, list = grid.get(k);
          if (list) { list.push(idx); } else { grid.set(k, [idx]); }
        }
      }
    }
    function inside(b) { return b[0] >= pad && b[1] >= pad && b[2] <= W - pad && b[3] <= H - pad; }
    // the text of a marked point (the chosen one, its neighbors, --highlight), in one text
    // trace (labels-marked): above its marker, or below it, to its right or left, whichever
    // keeps it in the plot area; left out for a point out of view or wider than the room
    var mk = {x: [], y: [], text: [], where: [], rank: [], hover: [], size: [], color: []};
    var drawnOnce = new Uint8Array(n);
    function place(js, size, color, marker, always) {
      var h = size * 1.6, r = marker / 2 + 2;
      js.forEach(function (j) {
        if (j < 0 || drawnOnce[j]) { return; }
        var px = (X[j] - x0) * sx, py = (y1 - Y[j]) * sy;
        if (px < 0 || px > W || py < 0 || py > H) { return; }
        var w = textWidth(j, size) + 2, b = null, v = "top", side = "center", fallback = null;
        // (boxes reach from the text to the point itself: plotly.js sets text close to it)
        [["top", py - r - h, py + 2], ["bottom", py - 2, py + r + h]].some(function (vt) {
          return [["center", px - w / 2], ["right", px + r * 0.7], ["left", px - r * 0.7 - w]].some(function (c) {
            var cand = [c[1], vt[1], c[1] + w, vt[2]];
            if (!inside(cand)) { return false; }
            if (!fallback) { fallback = [cand, vt[0], c[0]]; }
            if (overlaps(cand)) { return false; }
            b = cand; v = vt[0]; side = c[0];
            return true;
          });
        });
        if (!b && always && fallback) { b = fallback[0]; v = fallback[1]; side = fallback[2]; }
        if (!b) { return; }  // no room (the panel lists it): left out rather than cut or piled
        put(b);
        drawnOnce[j] = 1;
        mk.x.push(X[j]);
        mk.y.push(Y[j]);
        mk.text.push(mapText(labelOf(j)));
        mk.where.push(v + " " + side);
        mk.rank.push(rank[j]);
        if (M) { mk.hover.push(esc(hoverOf(j))); }
        mk.size.push(size);
        mk.color.push(color);
      });
    }
    // the chosen point first, then its neighbors, then the highlighted keys: the regular labels
    // keep clear of them all
    if (overlayJs.mark) { place(overlayJs.mark, 13, "#000", 16, true); }
    hlTraces.forEach(function (h) { place(h.named, h.size, h.color, h.marker, true); });
    if (overlayJs.nbrs) { place(overlayJs.nbrs, 11, "#b0005a", 11); }
    hlTraces.forEach(function (h) { place(h.js, h.size, h.color, h.marker); });
    if (role["labels-marked"] !== undefined) {
      var um = {x: [mk.x], y: [mk.y], text: [mk.text], textposition: [mk.where],
        customdata: [mk.rank], "textfont.size": [mk.size], "textfont.color": [mk.color]};
      if (M) { um.hovertext = [mk.hover]; }
      restyle(um, [role["labels-marked"]]);
    }
    // zoomed in by an area factor f (1 at full view)
    var f = Math.max(1, ((fullX[1] - fullX[0]) * (fullY[1] - fullY[0])) /
      Math.max(1e-30, Math.abs((x1 - x0) * (y1 - y0))));
    // the regions' names (embviz.viz.regions): the coarse ones at full view, the fine ones once
    // zoomed in by fine_zoom; each only where it fits inside the plot without overlapping a
    // marked label or another name; the point labels below keep clear of them
    var regionsShown = RG && role.regions !== undefined && gd.data[role.regions].visible !== "legendonly";
    if (RG && role.regions !== undefined && !regionsShown) { regionState = {level: 0, shown: []}; }
    if (regionsShown) {  // (hidden from the legend: no room kept for them)
      var level = f >= RG.fine_zoom ? 1 : 0, rsize = RG.size[level], rh = rsize * 1.3;
      var rx = [], ry = [], rt = [], rn = [];
      ruler.font = "bold " + rsize + "px " + family;
      for (var q = 0; q < RG.text.length; q++) {
        if (RG.level[q] !== level) { continue; }
        var qx = (RG.x[q] - x0) * sx, qy = (y1 - RG.y[q]) * sy;
        if (qx < 0 || qx > W || qy < 0 || qy > H) { continue; }
        var qw = ruler.measureText(String(RG.text[q])).width + 6;
        var qb = [qx - qw / 2, qy - rh / 2, qx + qw / 2, qy + rh / 2];
        if (!inside(qb) || overlaps(qb)) { continue; }
        put(qb);
        rx.push(RG.x[q]);
        ry.push(RG.y[q]);
        rt.push(esc(RG.text[q]));
        rn.push(RG.text[q]);
      }
      restyle({x: [rx], y: [ry], text: [rt], "textfont.size": rsize}, [role.regions]);
      regionState = {level: level, shown: rn};
    }
    if (!L || role.labels === undefined) { labelState = {shown: 0, extra: 0}; return; }
    // candidates: the L most frequent points at full view; zoomed in by an area factor f,
    // the L * f most frequent (about L of them fall in view), thinned the same way
    var C = Math.min(n, Math.ceil(L * f));
    var shown = new Uint8Array(n), extra = [], count = 0, lh = 10 * 1.4;
    for (var r = 0; r < C; r++) {
      var j = byRank[r];
      if (focusSet[j] || hlSet[j]) { continue; }  // marked points carry their own text
      var px = (X[j] - x0) * sx, py = (y1 - Y[j]) * sy;
      if (px < 0 || px > W || py < 0 || py > H) { continue; }
      var w = textWidth(j, 10) + 4;
      var b = [px - w / 2, py - lh / 2, px + w / 2, py + lh / 2 + 1];
      if (!inside(b) || overlaps(b)) { continue; }  // a label that would be cut is not drawn
      put(b);
      shown[j] = 1;
      count++;
      if (!isTop[j]) { extra.push(j); }
    }
    var texts = labelTop.map(function (j) { return shown[j] ? esc(labelOf(j)) : ""; });
    var pick = function (js, a) { return js.map(function (j) { return a[j]; }); };
    // a hidden label has no position: plotly.js drops the <text> of a point whose text is
    // empty and never draws it again, but draws a point that comes back from null afresh
    var at = function (a) { return labelTop.map(function (j) { return shown[j] ? a[j] : null; }); };
    var u = {text: [texts, extra.map(function (j) { return esc(labelOf(j)); })],
      x: [at(X), pick(extra, X)], y: [at(Y), pick(extra, Y)],
      customdata: [pick(labelTop, rank), pick(extra, rank)]};
    if (M) {
      var hov = function (j) { return esc(hoverOf(j)); };
      u.hovertext = [labelTop.map(hov), extra.map(hov)];
    }
    if (role["labels-zoom"] !== undefined) {
      restyle(u, [role.labels, role["labels-zoom"]]);
    } else {
      restyle({text: [texts], x: [at(X)], y: [at(Y)]}, [role.labels]);
    }
    labelState = {shown: count, extra: extra.length};
  }
  var labelState = {shown: 0, extra: 0};
  var regionState = {level: 0, shown: []};
  var thinTimer = null;
  function thinNow() {
    if (thinTimer) { clearTimeout(thinTimer); thinTimer = null; }
    try { thinLabels(); } catch (e) { /* labels only */ }
  }
  function scheduleThin() {
    if (thinTimer) { clearTimeout(thinTimer); }
    thinTimer = setTimeout(function () { thinTimer = null; try { thinLabels(); } catch (e) { /* labels only */ } }, 80);
  }

  // -- colour by a shown column (the select in the bar) -----------------------------------------
  // The colouring `embviz plot --color-by COLUMN` draws, computed in Python
  // (embviz.viz.coloring.page_coloring: the same palette, the most common categories first, the
  // rest "other"; Viridis for numbers; a multi-valued cell by its first value), as one colour
  // index per drawn point. Applied to the point traces; "as plotted" puts the figure's colours
  // (and its legend) back. Category names are data: the key shows them with textContent.
  var CB = M && M.colors ? M.colors : [];
  var HEX = /^#[0-9a-fA-F]{6}$/;
  var colorKey = null, colorSelect = null, colorState = {column: null};
  var plotted = null;  // each point trace's own marker.color, colour bar and legend entry
  var traceJs = null;  // each point trace's points, as drawn-point positions
  function pointsOfTraces() {
    if (!traceJs) {
      traceJs = pointTraces.map(function (i) {
        return Array.from(gd._fullData[i].customdata || [], function (r) { return idToJ[r - 1]; });
      });
    }
    return traceJs;
  }
  function colorBy(column) {  // true when coloured by `column`; null or "" puts the plot's colours back
    var c = CB.map(function (x) { return x.column; }).indexOf(column);
    if (!plotted) {
      plotted = pointTraces.map(function (i) {
        var t = gd._fullData[i], mk = t.marker || {};
        return {color: mk.color, scale: !!mk.showscale, legend: gd.data[i].showlegend};
      });
    }
    if (colorSelect) { colorSelect.value = c < 0 ? "" : String(c); }
    if (c < 0) {
      colorState = {column: null};
      if (colorKey) { colorKey.style.display = "none"; }
      restyle({"marker.color": plotted.map(function (p) { return p.color; }),
        "marker.showscale": plotted.map(function (p) { return p.scale; }),
        showlegend: plotted.map(function (p) { return p.legend === undefined ? null : p.legend; })}, pointTraces);
      ringSelection(false);
      return !column;
    }
    var spec = CB[c], codes = dec(spec.codes, Uint8Array);
    var colors = spec.colors.map(function (h) { return HEX.test(h) ? h : "#c8c8c8"; });
    var per = pointsOfTraces().map(function (js) { return js.map(function (j) { return colors[codes[j]]; }); });
    restyle({"marker.color": per, "marker.showscale": false, showlegend: false}, pointTraces);
    ringSelection(true);
    showColorKey(spec, colors, codes);
    colorState = {column: spec.column, title: spec.title, kind: spec.kind, names: spec.names, colors: colors,
      counts: spec.counts, min: spec.min, max: spec.max};
    return true;
  }
  var selectionLook = null;  // the selection's own marker (filled orange), kept while rings show
  function ringSelection(on) {  // coloured by a column: the selection is a ring, its points keep their colour
    var i = role.selection;
    if (i === undefined) { return; }
    if (!selectionLook) {
      var mk = gd.data[i].marker || {}, line = mk.line || {};  // (an empty trace has no full marker)
      selectionLook = {color: mk.color, width: line.width, line: line.color};
    }
    restyle(on ? {"marker.color": "rgba(0,0,0,0)", "marker.line.width": 2.5, "marker.line.color": "#000"}
      : {"marker.color": selectionLook.color, "marker.line.width": selectionLook.width,
        "marker.line.color": selectionLook.line}, [i]);
  }
  function showColorKey(spec, colors, codes) {
    if (!colorKey) {
      colorKey = el("div");
      colorKey.id = "embviz-key";
      document.body.appendChild(colorKey);
    }
    colorKey.textContent = "";
    colorKey.style.display = "block";
    colorKey.appendChild(el("div", spec.title, "title"));
    function row(color, name, count, q) {
      var r = el("div", null, "row");
      var sw = el("span", null, "sw");
      sw.style.background = color;
      r.appendChild(sw);
      r.appendChild(el("span", name, "name"));
      r.appendChild(el("span", fmt(count), "muted"));
      if (q !== null) {
        r.title = "select these points";
        r.addEventListener("click", function () {
          var js = [];
          for (var j = 0; j < n; j++) { if (codes[j] === q) { js.push(j); } }
          setSelection(js);
          msgBox.textContent = spec.title + ": " + name + ": " + fmt(js.length) + " of " + fmt(n) +
            " drawn points selected";
        });
      }
      colorKey.appendChild(r);
    }
    if (spec.kind === "number") {
      var ramp = el("div", null, "ramp");
      var last = colors.length - 2, stops = [];
      for (var q = 0; q <= last; q += Math.max(1, Math.floor(last / 16))) { stops.push(colors[q]); }
      if (stops[stops.length - 1] !== colors[last]) { stops.push(colors[last]); }
      ramp.style.background = "linear-gradient(to right, " + stops.join(", ") + ")";
      colorKey.appendChild(ramp);
      var ends = el("div", null, "ends");
      ends.appendChild(el("span", num(spec.min)));
      ends.appendChild(el("span", num(spec.max)));
      colorKey.appendChild(ends);
      var none = spec.counts[spec.counts.length - 1];
      if (none) { row(colors[colors.length - 1], "(no value)", none, null); }
    } else {
      spec.names.forEach(function (name, q2) { row(colors[q2], name, spec.counts[q2], q2); });
    }
  }
  if (CB.length) {  // the select, in the bar beside the search box
    var colorLabel = el("label", "colour by ", "embviz-muted");
    colorLabel.id = "embviz-colorby-label";
    colorSelect = el("select");
    colorSelect.id = "embviz-colorby";
    var asPlotted = el("option", "as plotted");
    asPlotted.value = "";
    colorSelect.appendChild(asPlotted);
    CB.forEach(function (spec, c) {
      var o = el("option", spec.column);
      o.value = String(c);
      colorSelect.appendChild(o);
    });
    colorSelect.addEventListener("change", function () {
      var c = colorSelect.value === "" ? -1 : +colorSelect.value;
      colorBy(c < 0 ? null : CB[c].column);
    });
    colorLabel.appendChild(colorSelect);
    document.getElementById("embviz-bar").appendChild(colorLabel);
  }

  // -- status ----------------------------------------------------------------------------------
  var fullX = [Infinity, -Infinity], fullY = [Infinity, -Infinity];
  for (var j1 = 0; j1 < n; j1++) {
    if (X[j1] < fullX[0]) { fullX[0] = X[j1]; }
    if (X[j1] > fullX[1]) { fullX[1] = X[j1]; }
    if (Y[j1] < fullY[0]) { fullY[0] = Y[j1]; }
    if (Y[j1] > fullY[1]) { fullY[1] = Y[j1]; }
  }
  function updateStatus() {
    var parts = [fmt(n) + " of " + fmt(total) + " points shown"];
    if (K) {
      parts.push("neighbor lists: " + K + " per point for " + fmt(nbrRows.length) +
        (nbrRows.length < n ? " (most frequent) points" : " points"));
    } else {
      parts.push("neighbor lists off");
    }
    if (D.density) { parts.push("density layer under the points"); }
    if (selCount) { parts.push("selection: " + fmt(selCount)); }
    statusEl.textContent = parts.join(" · ");
  }

  // -- events ----------------------------------------------------------------------------------
  gd.on("plotly_click", function (ev) {
    var pt = ev && ev.points && ev.points[0];
    var j = jOfPoint(pt);
    if (j < 0) { return; }
    if (ev.event && ev.event.shiftKey) {
      var js = selectedJs();
      if (sel[j]) { js = js.filter(function (x) { return x !== j; }); } else { js.push(j); }
      setSelection(js);
    } else {
      focus(j, false);
    }
  });
  gd.on("plotly_selected", function (ev) {
    if (!ev || !ev.points || muted) { return; }
    var js = [];
    ev.points.forEach(function (pt) {
      if (pointTraces.indexOf(pt.curveNumber) < 0) { return; }
      var j = jOfPoint(pt);
      if (j >= 0) { js.push(j); }
    });
    setSelection(js, true);
  });
  gd.on("plotly_legendclick", function (ev) {
    var i = ev.curveNumber;
    if (pointTraces.indexOf(i) < 0) { return true; }
    groupDim[i] = !groupDim[i];
    applyOpacity();
    return false;
  });
  gd.on("plotly_legenddoubleclick", function (ev) {
    var i = ev.curveNumber;
    if (pointTraces.indexOf(i) < 0) { return true; }
    var isolated = pointTraces.every(function (t) { return t === i ? !groupDim[t] : groupDim[t]; });
    pointTraces.forEach(function (t) { groupDim[t] = isolated ? false : t !== i; });
    applyOpacity();
    return false;
  });
  gd.on("plotly_hover", function (ev) {
    var pt = ev && ev.points && ev.points[0];
    var j = jOfPoint(pt);
    if (j < 0 || !ev.event) { tip.style.display = "none"; return; }
    var list = neighborsOf(j);
    var text = hoverOf(j) + " · rank " + fmt(rank[j]) + "\n" + (list
      ? "nearest: " + list.slice(0, 3).map(function (nb) { return labelOfId(nb.id, nb.key); }).join(", ")
      : (K ? "no neighbor list (see the panel)" : "neighbor lists off"));
    tip.textContent = text;
    tip.style.left = "0px";
    tip.style.top = "0px";
    tip.style.display = "block";
    // beside the mouse, turned to stay in the window near its right or bottom edge
    var cx = ev.event.clientX, cy = ev.event.clientY, tw = tip.offsetWidth, th = tip.offsetHeight;
    var left = cx + 14 + tw <= window.innerWidth ? cx + 14 : Math.max(0, cx - 14 - tw);
    var top = cy + 22 + th <= window.innerHeight ? cy + 22 : Math.max(0, cy - 12 - th);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  });
  gd.on("plotly_unhover", function () { tip.style.display = "none"; });
  // after a box or lasso drag plotly.js sends no unhover: the tooltip goes when the mouse leaves
  // the map, and while a box is drawn
  gd.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  gd.on("plotly_selecting", function () { tip.style.display = "none"; });
  gd.on("plotly_relayout", scheduleThin);
  // the legend hides or shows a trace (plotly.js restyles "visible" after its double-click
  // delay): the regions' names, hidden, keep no room from the point labels
  gd.on("plotly_restyle", function (ev) { if (ev && ev[0] && "visible" in ev[0]) { scheduleThin(); } });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && document.activeElement !== input) {
      matchesEl.style.display = "none";  // a search list left open over the map
      clearFocus();
    }
  });
  window.addEventListener("hashchange", function () { applyHash(); });

  function applyHash() {
    var h = readHash();
    if (h.select !== undefined) {
      var js = [];
      h.select.split(",").forEach(function (s) {
        var key;
        try { key = decodeURIComponent(s); } catch (e) { return; }
        var j = jOfKey(key);
        if (j >= 0) { js.push(j); }
      });
      setSelection(js);
    }
    if (h.key !== undefined) {
      var key;
      try { key = decodeURIComponent(h.key); } catch (e) { return; }
      var j = jOfKey(key);
      if (j >= 0) { focus(j, true); } else {
        var res = search(key).matches.filter(function (m) { return m.key === key; });
        if (res.length) { showNotDrawn(key, res[0].rank); } else {
          focusBox.textContent = "";
          focusBox.appendChild(el("p", "'" + key + "' (from the link) is not in this page."));
        }
      }
    }
  }

  // -- the title fits its room: left of the plot's toolbar (shown on hover) and inside the plot's
  // div; a long title (a file name and UMAP's parameters) in a narrow page, a notebook's output
  // area, gets a smaller font rather than running under the toolbar and being cut at the panel
  var titleText = (gd.layout.title && gd.layout.title.text) || "";  // escaped (figure.py): &amp; &lt; &gt; &#37;
  var titleSize = (gd._fullLayout.title && gd._fullLayout.title.font && gd._fullLayout.title.font.size) || 14;
  function fitTitle() {  // its own size if it fits, else smaller (9 px at least), else cut with an ellipsis
    var t = gd.querySelector(".gtitle"), bar = gd.querySelector(".modebar");
    if (!t || !titleText) { return; }
    var right = gd.getBoundingClientRect().right - 8;
    if (bar) { right = Math.min(right, bar.getBoundingClientRect().left - 8); }
    var room = right - t.getBoundingClientRect().left;
    var text = titleText.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&#37;/g, "%").replace(/&amp;/g, "&");
    var width = function (str, px) { ruler.font = px + "px " + family; return ruler.measureText(str).width; };
    var size = titleSize, shown = titleText;
    while (size > 9 && width(text, size) > room) { size--; }
    if (width(text, size) > room) {
      var k = text.length;
      while (k > 1 && width(text.slice(0, k) + "\u2026", size) > room) { k--; }
      shown = esc(text.slice(0, k)) + "\u2026";  // (the footer keeps the whole provenance)
    }
    var cur = gd._fullLayout.title;
    if (cur.font.size !== size || cur.text !== shown) { Plotly.relayout(gd, {"title.font.size": size, "title.text": shown}); }
  }
  var titleTimer = null;
  window.addEventListener("resize", function () {
    if (titleTimer) { clearTimeout(titleTimer); }
    titleTimer = setTimeout(function () { try { fitTitle(); } catch (e) { /* the title only */ } }, 200);
  });

  // -- start -----------------------------------------------------------------------------------
  // one tooltip: in 2D the page's own (key, rank and three nearest neighbors, beside the
  // mouse); plotly.js's hover label is still computed (it drives plotly_hover) but not shown.
  // 3D hover events carry no mouse position, so there plotly.js's label is the tooltip.
  if (dim === 2) { gd.classList.add("embviz-own-tip"); }
  if (M && mCols.length) {  // a property, not markup
    input.placeholder = "search: key, prefix, /regex/, or " + mCols.join(", ");
  }
  updateStatus();
  window.embviz = {
    ready: true,
    timing: {plotted: t0},  // ms since navigation start; explorer_ms is set below
    search: function (t) { return search(t).matches.map(function (m) { return [m.key, m.rank, m.j >= 0]; }); },
    focusKey: function (key) { var j = jOfKey(key); if (j >= 0) { focus(j, true); } return j >= 0; },
    selectKeys: function (ks) { setSelection(ks.map(jOfKey).filter(function (j) { return j >= 0; })); return selCount; },
    selectionTSV: selectionTSV,
    neighbors: function (key) { var j = jOfKey(key); return j < 0 ? null : neighborsOf(j); },
    labels: function () { return labelState; },
    regions: function () { return regionState; },
    fitTitle: fitTitle,
    relayout: function (method) { return API ? layOutAgain(method || relayoutMethod) : false; },
    relayoutState: function () { return relayoutState; },
    addToMap: function (key) { if (API && dim === 2) { addToMap(key); return true; } return false; },
    added: function () { return added; },
    canRecommend: function () { return canRecommend; },
    filter: function (column, value) { return M ? filterBy(column, value) : -1; },
    filterText: function (text) { return M ? filterText(text) : -1; },
    colorBy: function (column) { return colorBy(column); },
    colorState: function () { return colorState; },
    shown: function (key) { var j = jOfKey(key); return j < 0 || !M ? null : metaOf(rank[j] - 1); },
    state: function () { return {focus: focusJ >= 0 ? keys[focusJ] : null, selected: selCount, n: n, total: total, k: K}; }
  };
  try { thinLabels(); } catch (e) { /* labels only */ }
  try { fitTitle(); } catch (e) { /* the title only */ }
  try { applyHash(); } catch (e) { /* a bad link */ }
  window.embviz.timing.explorer_ms = performance.now() - t0;
})();
