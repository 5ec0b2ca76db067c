/* embviz explorer: metadata filters typed in the search box (no DOM; explorer.js uses them).
 *
 *   genres=Comedy            the column holds the value (any case; a multi-valued cell,
 *                            Animation|Comedy, holds each of its parts)
 *   genres!=Comedy           it does not (a point without a value does not hold it either)
 *   year>=1990  year<2000    numeric comparisons: >, >=, <, <= (a cell that is not a number,
 *   rating>4.5               or has no value, never matches)
 *   genres=Comedy year<2000  several conditions: all must hold
 *   title="Toy Story"        a value runs to the next condition; quotes are optional
 *
 * Column names are the page's shown columns, in any case. parse() returns null for text that
 * is not a filter, else {conds, error}: error is one line that says what is wrong.
 */
var EmbvizFilter = (function () {
  "use strict";
  // NAME OP at the start, or after a space; NAME holds no space, quote, = < > or !
  var COND = /(^|\s+)([^\s"'=<>!]+)\s*(<=|>=|!=|=|<|>)\s*/g;
  var NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  function asNumber(s) {
    var t = String(s).trim();
    return NUMBER.test(t) ? parseFloat(t) : NaN;
  }
  function unquote(s) {
    var m = /^"(.*)"$/.exec(s) || /^'(.*)'$/.exec(s);
    return m ? m[1] : s;
  }
  function parse(text, columns) {
    text = String(text || "");
    if (/^\s*\/.+\/[imsu]*\s*$/.test(text)) { return null; }  // a /regex/ search
    var found = [], m;
    COND.lastIndex = 0;
    while ((m = COND.exec(text)) !== null) {
      found.push({at: m.index, end: COND.lastIndex, name: m[2], op: m[3]});
    }
    if (!found.length || text.slice(0, found[0].at).trim()) { return null; }
    var lower = columns.map(function (c) { return String(c).toLowerCase(); });
    var conds = [];
    for (var i = 0; i < found.length; i++) {
      var f = found[i];
      var value = unquote(text.slice(f.end, i + 1 < found.length ? found[i + 1].at : text.length).trim());
      var c = lower.indexOf(f.name.toLowerCase());
      var shown = f.name + f.op + value;
      if (c < 0) {
        return {conds: [], error: "no shown column '" + f.name + "' (columns: " + columns.join(", ") + ")"};
      }
      if (!value) {
        return {conds: [], error: shown + ": give a value after " + f.name + f.op};
      }
      var num = asNumber(value);
      if (f.op !== "=" && f.op !== "!=" && isNaN(num)) {
        return {conds: [], error: shown + ": '" + value + "' is not a number (" + f.op +
          " compares numbers; = and != compare text)"};
      }
      conds.push({c: c, column: columns[c], op: f.op, value: value, low: value.toLowerCase(), num: num});
    }
    return {conds: conds, error: null};
  }
  function parts(cell) {  // the cell's values: the whole cell and each |-separated part
    var low = String(cell).toLowerCase().trim(), out = [low];
    if (low.indexOf("|") >= 0) {
      low.split("|").forEach(function (s) { s = s.trim(); if (s) { out.push(s); } });
    }
    return out;
  }
  function holds(cell, cond) {  // does `cell` (a string, or null) satisfy `cond`?
    var op = cond.op;
    if (cell === null || cell === undefined || String(cell).trim() === "") { return op === "!="; }
    var ps = parts(cell);
    if (op === "=" || op === "!=") {
      var eq = ps.some(function (p) {
        if (p === cond.low) { return true; }
        var x = asNumber(p);
        return !isNaN(x) && !isNaN(cond.num) && x === cond.num;  // 4.50 = 4.5
      });
      return op === "=" ? eq : !eq;
    }
    return ps.some(function (p) {
      var x = asNumber(p);
      if (isNaN(x)) { return false; }
      return op === "<" ? x < cond.num : op === "<=" ? x <= cond.num : op === ">" ? x > cond.num : x >= cond.num;
    });
  }
  // the drawn points (0 .. n-1) where every condition holds; values: one array of cells per
  // shown column. {js} or {error} when a comparison's column holds no number at all.
  function select(conds, values, n) {
    for (var q = 0; q < conds.length; q++) {
      var cond = conds[q];
      if (cond.op === "=" || cond.op === "!=") { continue; }
      var col = values[cond.c], any = false;
      for (var j0 = 0; j0 < n && !any; j0++) {
        var v = col[j0];
        if (v !== null && v !== undefined) { any = parts(v).some(function (p) { return !isNaN(asNumber(p)); }); }
      }
      if (!any) {
        return {error: cond.column + cond.op + cond.value + ": " + cond.column +
          " holds no numbers in this page (" + cond.op + " compares numbers)"};
      }
    }
    var js = [];
    for (var j = 0; j < n; j++) {
      var ok = true;
      for (var k = 0; k < conds.length && ok; k++) { ok = holds(values[conds[k].c][j], conds[k]); }
      if (ok) { js.push(j); }
    }
    return {js: js};
  }
  function describe(conds) {  // "genres=comedy year<2000"
    return conds.map(function (c) { return c.column + c.op + c.value; }).join(" ");
  }
  return {parse: parse, holds: holds, select: select, describe: describe};
})();
