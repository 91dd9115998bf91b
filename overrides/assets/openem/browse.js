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

    function apply() {
      var wanted = selects.filter(function (s) { return s.value; });
      var words = text.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row) {
        var ok = wanted.every(function (s) { return row.getAttribute("data-" + s.name) === s.value; }) &&
          words.every(function (w) { return row.getAttribute("data-text").indexOf(w) !== -1; });
        row.hidden = !ok;
        if (ok) shown += 1;
      });
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
