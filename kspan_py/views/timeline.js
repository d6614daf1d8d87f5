// kspan-py timeline: inlined into the page by kspan_py/views/timeline.py.
// Draws the traces from the JSON data element. Text goes in through textContent only, never
// as markup, so whatever an Event message holds stays text.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("kspan-data").textContent);
  var main = document.getElementById("traces");
  var tooltip = document.getElementById("tooltip");
  var filter = document.getElementById("filter");
  var count = document.getElementById("count");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // As the terminal waterfall writes them: 0s, 983ms, 8.0s, 1m07s, 2h05m.
  function duration(ms) {
    if (ms <= 0) return "0s";
    if (ms < 1000) return Math.round(ms) + "ms";
    var s = ms / 1000;
    if (s < 60) return s.toFixed(1) + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
    return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
  }

  function colour(component) {
    return data.components[component] || "#7f7f7f";
  }

  function legend() {
    var box = document.getElementById("legend");
    Object.keys(data.components).forEach(function (name) {
      var item = el("span", "legend-item");
      var swatch = el("span", "swatch");
      swatch.style.background = colour(name);
      item.appendChild(swatch);
      item.appendChild(el("span", "", name));
      box.appendChild(item);
    });
  }

  function axis(total) {
    var row = el("div", "axis");
    row.appendChild(el("div", "", "span"));
    var ticks = el("div", "ticks");
    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      var tick = el("span", "tick", "+" + duration(total * f));
      tick.style.left = f * 100 + "%";
      ticks.appendChild(tick);
    });
    row.appendChild(ticks);
    return row;
  }

  function showTooltip(span, event) {
    tooltip.textContent = "";
    tooltip.appendChild(el("div", "title", span.name + " \u00b7 " + span.component));
    var table = el("table");
    var keys = Object.keys(span.attributes);
    keys.forEach(function (key) {
      var tr = el("tr");
      tr.appendChild(el("td", "", key));
      var value = span.attributes[key];
      tr.appendChild(el("td", "", typeof value === "object" ? JSON.stringify(value) : value));
      table.appendChild(tr);
    });
    if (span.events.length) {
      var tr = el("tr");
      tr.appendChild(el("td", "", "events"));
      tr.appendChild(el("td", "", span.events.length + " (" + span.events.map(function (e) {
        return e.name + " +" + duration(e.offset);
      }).join(", ") + ")"));
      table.appendChild(tr);
    }
    tooltip.appendChild(table);
    tooltip.hidden = false;
    moveTooltip(event);
  }

  function moveTooltip(event) {
    var x = event.clientX + 14, y = event.clientY + 14;
    var box = tooltip.getBoundingClientRect();
    if (x + box.width > window.innerWidth) x = Math.max(0, event.clientX - box.width - 14);
    if (y + box.height > window.innerHeight) y = Math.max(0, event.clientY - box.height - 14);
    tooltip.style.left = x + "px";
    tooltip.style.top = y + "px";
  }

  function spanGroup(span, total) {
    var group = el("div", "span");
    group.dataset.spanId = span.id;
    group.dataset.name = span.name;
    group.dataset.search = [span.name, span.component, span.object, span.message,
      span.problem ? span.problem.name : ""].join(" ").toLowerCase();
    var row = el("div", "row" + (span.problem ? " problem" : ""));
    var label = el("div", "label");
    label.style.paddingLeft = span.depth * 14 + "px";
    var chip = el("span", "component", span.component);
    chip.style.background = colour(span.component);
    label.appendChild(chip);
    if (span.problem) label.appendChild(el("span", "mark", "\u2716"));
    label.appendChild(el("span", "name", span.name));
    label.appendChild(el("span", "message", span.message));
    row.appendChild(label);
    var track = el("div", "track");
    var bar = el("div", "bar");
    var scale = total > 0 ? 100 / total : 0;
    bar.style.left = (total > 0 ? span.offset * scale : 0) + "%";
    bar.style.width = (total > 0 ? span.duration * scale : 100) + "%";
    bar.style.background = span.problem ? "var(--problem)" : colour(span.component);
    track.appendChild(bar);
    span.events.forEach(function (event) {
      var tick = el("div", "occurrence");
      tick.style.left = (total > 0 ? event.offset * scale : 0) + "%";
      track.appendChild(tick);
    });
    row.appendChild(track);
    row.addEventListener("mouseenter", function (e) { showTooltip(span, e); });
    row.addEventListener("mousemove", moveTooltip);
    row.addEventListener("mouseleave", function () { tooltip.hidden = true; });
    group.appendChild(row);
    var indent = span.depth * 14 + 24 + "px";
    if (span.problem && span.problem.detail) {
      var detail = el("div", "detail", "\u2716 " + span.problem.detail);
      detail.style.paddingLeft = indent;
      group.appendChild(detail);
    }
    span.links.forEach(function (link) {
      var line = el("div", "link", "\u21aa " + link.reason + ": span " + link.span +
        " of trace " + link.trace);
      line.style.paddingLeft = indent;
      group.appendChild(line);
    });
    return group;
  }

  function traceSection(trace) {
    var section = el("section", "trace");
    section.dataset.traceId = trace.id;
    var title = el("h2");
    title.appendChild(el("span", "id", trace.id));
    title.appendChild(document.createTextNode(" \u00b7 " + trace.spans.length + " spans \u00b7 " +
      trace.start + " \u00b7 " + duration(trace.duration)));
    section.appendChild(title);
    section.appendChild(el("p", "verdict " + (trace.verdict ? "bad" : "good"),
      trace.verdict ? "\u2716 " + trace.verdict : "no problem in this trace"));
    section.appendChild(axis(trace.duration));
    trace.spans.forEach(function (span) {
      section.appendChild(spanGroup(span, trace.duration));
    });
    return section;
  }

  // The address is typed or pasted by anyone: "#filter=%" is no valid escape, and
  // decodeURIComponent throws on it. Filter by the text as it is then.
  function decoded(text) {
    try {
      return decodeURIComponent(text);
    } catch (malformed) {
      return text;
    }
  }

  function apply() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0, all = 0;
    main.querySelectorAll("section.trace").forEach(function (section) {
      var visible = 0;
      section.querySelectorAll("div.span").forEach(function (group) {
        var text = group.dataset.search;
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        group.hidden = !match;
        all += 1;
        if (match) visible += 1;
      });
      section.hidden = visible === 0;
      shown += visible;
    });
    count.textContent = words.length ? shown + " of " + all + " spans" : all + " spans";
    main.dataset.shown = String(shown);
  }

  legend();
  main.textContent = "";
  data.traces.forEach(function (trace) { main.appendChild(traceSection(trace)); });
  var fromAddress = /(?:^#|&)filter=([^&]*)/.exec(window.location.hash);
  if (fromAddress) filter.value = decoded(fromAddress[1]);
  filter.addEventListener("input", apply);
  apply();
  document.body.dataset.rendered = "true";
})();
