// The Live page: polls /dashboard/api/live and redraws the figures, the per-minute chart
// and the ranked lists. Text from browsers (pages, sources) is set with textContent only;
// the CSP allows this file (script-src 'self') and no inline script or style.
(function () {
  "use strict";
  var script = document.getElementById("live-script");
  if (!script) return;
  var api = script.dataset.api;
  var poll = Number(script.dataset.poll || 5) * 1000;
  var W = Number(script.dataset.width), H = Number(script.dataset.height), TOP = Number(script.dataset.top);
  var SVG = "http://www.w3.org/2000/svg";

  // Direction controls (U+202E...) in a URL would make it read as another: shown as \u202e.
  var BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  function visible(value) {
    return String(value).replace(BIDI, function (c) {
      return "\\u" + c.charCodeAt(0).toString(16);
    });
  }

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  function chart(perMinute) {
    var svg = document.getElementById("live-chart");
    if (!svg || !perMinute.length) return;
    var groups = svg.querySelectorAll("g");
    var top = Math.max.apply(null, perMinute.map(function (m) { return m.events; }).concat([1]));
    var slot = W / perMinute.length;
    perMinute.forEach(function (m, i) {
      var g = groups[i];
      if (!g) {
        g = document.createElementNS(SVG, "g");
        g.appendChild(document.createElementNS(SVG, "title"));
        ["events", "views"].forEach(function (kind) {
          var r = document.createElementNS(SVG, "rect");
          r.setAttribute("class", kind);
          g.appendChild(r);
        });
        svg.insertBefore(g, document.getElementById("live-first"));
      }
      var minute = m.minute.slice(11, 16);
      g.querySelector("title").textContent = minute + " UTC: " + m.events + " events, " + m.pageviews + " page views";
      [["events", m.events], ["views", m.pageviews]].forEach(function (pair) {
        var h = ((H - TOP) * pair[1]) / top;
        var r = g.querySelector("rect." + pair[0]);
        r.setAttribute("x", (i * slot + 1).toFixed(1));
        r.setAttribute("width", (slot - 2).toFixed(1));
        r.setAttribute("y", (H - h).toFixed(1));
        r.setAttribute("height", h.toFixed(1));
      });
    });
    text("live-max", Math.max.apply(null, perMinute.map(function (m) { return m.events; })) + " events a minute at most");
    text("live-first", perMinute[0].minute.slice(11, 16));
    text("live-last", perMinute[perMinute.length - 1].minute.slice(11, 16));
  }

  function ranked(name, rows) {
    var list = document.getElementById("live-" + name);
    if (!list) return;
    var label = list.dataset.label;
    while (list.firstChild) list.removeChild(list.firstChild);
    rows.forEach(function (row) {
      var li = document.createElement("li");
      var span = document.createElement("span");
      span.className = "name";
      span.textContent = visible(row[label]);
      var meter = document.createElement("meter");
      meter.min = 0;
      meter.max = rows[0].views;
      meter.value = row.views;
      var n = document.createElement("span");
      n.className = "n";
      n.textContent = String(row.views);
      li.appendChild(span);
      li.appendChild(meter);
      li.appendChild(n);
      list.appendChild(li);
    });
    var empty = document.getElementById("live-" + name + "-empty");
    if (empty) empty.hidden = rows.length > 0;
  }

  function draw(data) {
    text("live-visitors", data.visitors_5m);
    text("live-visitors-30", data.visitors_30m);
    text("live-pageviews", data.pageviews_30m);
    text("live-events", data.events_30m);
    chart(data.per_minute);
    ranked("pages", data.pages);
    ranked("sources", data.sources);
    ranked("countries", data.countries);
    text("live-status", "Figures at " + data.now.slice(11, 19) + " UTC.");
    document.body.dataset.liveUpdated = data.now;
  }

  function tick() {
    fetch(api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(draw)
      .catch(function (e) {
        text("live-status", "Could not update (" + e.message + "); retrying. Log in again if your session ended.");
      })
      .then(function () { window.setTimeout(tick, poll); });
  }

  window.setTimeout(tick, poll);
})();
