// Client-side filters of the Browse page. The filter state lives in the URL, so a filtered view can be shared.
(function () {
  "use strict";
  function init() {
    var form = document.getElementById("openem-filters");
    var table = document.getElementById("openem-browse");
    if (!form || !table || form.dataset.ready) return;
    form.dataset.ready = "1";
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var count = document.getElementById("openem-count");
    var none = document.getElementById("openem-none");
    var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-facet]"));
    var text = form.querySelector("input[name=text]");
    var params = new URLSearchParams(window.location.search);
    selects.forEach(function (s) { if (params.has(s.name)) s.value = params.get(s.name); });
    if (params.has("text")) text.value = params.get("text");

    // Each row's values, read once (10,000 rows: the attributes are not read again on every keystroke).
    var data = rows.map(function (row) {
      var values = {};
      selects.forEach(function (s) { values[s.name] = row.getAttribute("data-" + s.name); });
      return { row: row, values: values, text: row.getAttribute("data-text") };
    });

    // Every filter offers only the values that the other filters (and the words) leave, with their counts:
    // no choice gives an empty list.
    function offer(wanted, matchesText) {
      selects.forEach(function (s) {
        var counts = {};
        data.forEach(function (d, i) {
          if (!matchesText[i]) return;
          for (var k = 0; k < wanted.length; k++) {
            if (wanted[k] !== s && d.values[wanted[k].name] !== wanted[k].value) return;
          }
          var v = d.values[s.name];
          counts[v] = (counts[v] || 0) + 1;
        });
        Array.prototype.forEach.call(s.options, function (o) {
          if (!o.value) return;
          var n = counts[o.value] || 0;
          var keep = n > 0 || o.value === s.value;
          o.hidden = !keep;
          o.disabled = !keep;
          o.textContent = o.getAttribute("data-label") + " (" + n.toLocaleString("en") + ")";
        });
      });
    }

    function apply() {
      var wanted = selects.filter(function (s) { return s.value; });
      var words = text.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      var matchesText = data.map(function (d) {
        return words.every(function (w) { return d.text.indexOf(w) !== -1; });
      });
      data.forEach(function (d, i) {
        var ok = matchesText[i] && wanted.every(function (s) { return d.values[s.name] === s.value; });
        if (d.row.hidden === ok) d.row.hidden = !ok;
        if (ok) shown += 1;
      });
      offer(wanted, matchesText);
      count.textContent = shown.toLocaleString("en") + (shown === 1 ? " dataset" : " datasets");
      none.hidden = shown !== 0;
      var next = new URLSearchParams();
      wanted.forEach(function (s) { next.set(s.name, s.value); });
      if (text.value) next.set("text", text.value);
      var query = next.toString();
      history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    }
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("reset", function () { setTimeout(apply, 0); });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    apply();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
