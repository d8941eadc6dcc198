// Admin statistics page. The token lives only in this closure (never storage, never the URL);
// charts are SVG built with DOM APIs and textContent, so no server string is parsed as markup.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var token = null;
  var form = document.getElementById("login");
  var input = document.getElementById("token");
  var daysSelect = document.getElementById("days");
  var statusLine = document.getElementById("status");
  var report = document.getElementById("report");

  function el(name, text, className) {
    var node = document.createElement(name);
    if (text !== undefined) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function svg(name, attrs) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }

  // Horizontal bars, largest first (or in the given key order), at most `limit` rows.
  function barChart(title, counts, limit, keepOrder) {
    var box = el("section", undefined, "chart");
    box.appendChild(el("h3", title));
    var rows = Object.keys(counts || {}).map(function (k) { return [k, counts[k]]; });
    if (!keepOrder) rows.sort(function (a, b) { return b[1] - a[1]; });
    rows = rows.slice(0, limit || 15);
    if (!rows.length) { box.appendChild(el("p", "No data.", "empty")); return box; }
    var max = Math.max.apply(null, rows.map(function (r) { return r[1]; })) || 1;
    var rowH = 20, labelW = 170, barW = 220, width = labelW + barW + 60;
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + rows.length * rowH, role: "img" });
    var desc = svg("title");
    desc.textContent = title;
    chart.appendChild(desc);
    rows.forEach(function (row, i) {
      var y = i * rowH;
      var label = svg("text", { x: 0, y: y + 14, "class": "label" });
      label.textContent = row[0].length > 26 ? row[0].slice(0, 25) + "…" : row[0];
      var w = Math.max(1, Math.round((row[1] / max) * barW));
      var bar = svg("rect", { x: labelW, y: y + 3, width: w, height: rowH - 6, "class": "bar" });
      var value = svg("text", { x: labelW + w + 4, y: y + 14, "class": "value" });
      value.textContent = String(row[1]);
      chart.appendChild(label);
      chart.appendChild(bar);
      chart.appendChild(value);
    });
    box.appendChild(chart);
    return box;
  }

  function sum(counts) {
    return Object.keys(counts || {}).reduce(function (t, k) { return t + counts[k]; }, 0);
  }

  function latencyTable(latency) {
    var table = el("table");
    var head = el("tr");
    ["tool", "engine", "runs", "p50 ≤ ms", "p95 ≤ ms"].forEach(function (h) { head.appendChild(el("th", h)); });
    table.appendChild(head);
    Object.keys(latency || {}).sort().forEach(function (tool) {
      Object.keys(latency[tool]).sort().forEach(function (engine) {
        var s = latency[tool][engine];
        var tr = el("tr");
        [tool, engine, s.count, s.p50_ms === null ? "–" : s.p50_ms, s.p95_ms === null ? "–" : s.p95_ms]
          .forEach(function (v) { tr.appendChild(el("td", v)); });
        table.appendChild(tr);
      });
    });
    return table;
  }

  function render(data) {
    report.replaceChildren();
    var t = data.totals;
    report.appendChild(el("h2", "From " + data.from + " to " + data.to + " (UTC)"));
    var grid = el("div", undefined, "charts");
    var perDay = {};
    data.days.slice().sort(function (a, b) { return a.date < b.date ? -1 : 1; })
      .forEach(function (d) { perDay[d.date] = sum(d.views); });
    grid.appendChild(barChart("Page views per day", perDay, 90, true));  // oldest first, like a timeline
    grid.appendChild(barChart("Page views by page", t.views));
    grid.appendChild(barChart("Browsers", t.browsers));
    grid.appendChild(barChart("Devices", t.devices));
    grid.appendChild(barChart("Countries", t.countries));
    Object.keys(t.runs || {}).sort().forEach(function (tool) {
      grid.appendChild(barChart("Runs of " + tool + " by outcome", t.runs[tool]));
    });
    report.appendChild(grid);
    report.appendChild(el("h2", "Latency of successful runs"));
    report.appendChild(latencyTable(t.latency));
  }

  function load() {
    if (!token) return;
    statusLine.textContent = "Loading…";
    fetch("/api/stats?days=" + encodeURIComponent(daysSelect.value), {
      headers: { Authorization: "Bearer " + token },
      cache: "no-store",
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; });
    }).then(function (res) {
      if (res.status === 200) {
        statusLine.textContent = "";
        render(res.body);
        return;
      }
      if (res.status === 401) token = null;
      statusLine.textContent = (res.body && res.body.error && res.body.error.message) || ("HTTP " + res.status);
    }).catch(function () {
      statusLine.textContent = "The statistics could not be loaded.";
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.value) token = input.value;
    input.value = "";  // keep it out of the DOM; the closure holds it for refreshes
    load();
  });
  daysSelect.addEventListener("change", load);
  document.getElementById("forget").addEventListener("click", function () {
    token = null;
    report.replaceChildren();
    statusLine.textContent = "Token forgotten.";
  });
})();
