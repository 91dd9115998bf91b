// Site search with Pagefind (static index in /pagefind/, loaded chunk by chunk as a query needs it). A large
// catalogue is indexed in shards (pagefind/, pagefind-1/, …; listed in pagefind/openem-shards.json, see
// openem_build/search.py): every shard is queried and the results merged, so the reader sees one index.
// - On every page: the header box opens the Search page with the query (/search/?q=…); "/" focuses it.
// - On the Search page: full-text results with snippets, facet filters with counts, sorting. The state (q, one
//   parameter per filter value, sort) lives in the URL, so a search can be shared and is reproduced on load.
// Without JavaScript both forms submit to the Browse page, which lists every dataset.
(function () {
  "use strict";

  var PAGE_SIZE = 10;
  // Every dataset page carries this word (templates/dataset.html, data-search-all): searching it instead of
  // nothing makes a filter-only search load one index chunk; Pagefind's null search loads them all.
  var ALL = "openemdatasetpage";
  var SORTS = {
    newest: { published: "desc" }, title: { title: "asc" }, size: { size: "desc" }, resolution: { resolution: "asc" }
  };

  // Sort name → the page metadata holding its key (templates/dataset.html), to merge shards' sorted results.
  var SORT_META = { published: "published", title: "sort_title", size: "sort_size", resolution: "sort_resolution" };
  var NO_RESULTS = { length: 0, next: function () { return Promise.resolve([]); } };

  function isEditable(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Pagefind's excerpts are HTML-escaped text with <mark> around matches: keep the marks, nothing else.
  function excerptNodes(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = (html || "").replace(new RegExp("(<mark>)?" + ALL + "(</mark>)?\\.?\\s*", "g"), "");
    var out = document.createDocumentFragment();
    tpl.content.childNodes.forEach(function (n) {
      if (n.nodeType === 1 && n.tagName === "MARK") out.appendChild(el("mark", {}, n.textContent));
      else out.appendChild(document.createTextNode(n.textContent));
    });
    return out;
  }

  // The summary of a dataset's description (its Pagefind metadata, see render/searchmeta.py), with the query's
  // words marked where a word of the summary starts with them.
  function summaryNodes(text, query) {
    var words = (query || "").toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(function (w) { return w.length > 1; });
    var out = document.createDocumentFragment();
    if (!words.length) { out.appendChild(document.createTextNode(text)); return out; }
    var pattern = new RegExp("(^|[^\\p{L}\\p{N}])(" + words.map(function (w) {
      return w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }).join("|") + ")", "giu");
    var at = 0;
    text.replace(pattern, function (match, before, word, offset) {
      var start = offset + before.length;
      out.appendChild(document.createTextNode(text.slice(at, start)));
      out.appendChild(el("mark", {}, word));
      at = start + word.length;
      return match;
    });
    out.appendChild(document.createTextNode(text.slice(at)));
    return out;
  }

  function plain(text) {
    var tpl = document.createElement("template");
    tpl.innerHTML = text || "";
    return tpl.content.textContent;
  }

  // ---- several Pagefind bundles as one ----
  // Pagefind orders sort keys as Rust strings, by code point; JavaScript's < compares UTF-16 code units.
  function compareCodePoints(a, b) {
    var i = 0, j = 0;
    while (i < a.length && j < b.length) {
      var x = a.codePointAt(i), y = b.codePointAt(j);
      if (x !== y) return x < y ? -1 : 1;
      i += x > 0xffff ? 2 : 1;
      j += y > 0xffff ? 2 : 1;
    }
    return i < a.length ? 1 : j < b.length ? -1 : 0;
  }

  function mergeFilters(all) {
    var out = {};
    all.forEach(function (f) {
      Object.keys(f || {}).forEach(function (name) {
        var into = out[name] || (out[name] = {});
        Object.keys(f[name]).forEach(function (v) { into[v] = (into[v] || 0) + f[name][v]; });
      });
    });
    return out;
  }

  // The results of every shard as one list, read a page at a time with next(n) (a promise of the pages' data).
  // Relevance: by score, as Pagefind's own mergeIndex does. A sort: each shard's results are in order already,
  // so the next result is the first of the shards' heads by the sort key (ties: the earlier shard).
  function mergedResults(lists, sort) {
    var items = lists.map(function (list) {
      return list.map(function (r) {
        var loaded = null;
        return { score: r.score, data: function () { return loaded || (loaded = r.data()); } };
      });
    });
    var total = items.reduce(function (n, list) { return n + list.length; }, 0);
    var name = sort && Object.keys(sort)[0];
    var chain = Promise.resolve();
    function queue(step) { // one next() at a time: each continues where the previous one stopped
      var run = chain.then(step);
      chain = run.then(function () {}, function () {});
      return run;
    }
    if (!name || items.length === 1) {
      var flat = [].concat.apply([], items);
      if (items.length > 1) flat.sort(function (a, b) { return b.score - a.score; });
      var at = 0;
      return { length: total, next: function (n) {
        return queue(function () {
          var slice = flat.slice(at, at + n);
          at += slice.length;
          return Promise.all(slice.map(function (r) { return r.data(); }));
        });
      } };
    }
    var key = SORT_META[name];
    var desc = sort[name] === "desc";
    var heads = items.map(function () { return 0; });
    function before(a, b) {
      var x = (a.meta || {})[key], y = (b.meta || {})[key];
      if (x === undefined || y === undefined) return x !== undefined && y === undefined;
      var c = compareCodePoints(x, y);
      return desc ? c > 0 : c < 0;
    }
    function pick() {
      var live = [];
      items.forEach(function (list, k) { if (heads[k] < list.length) live.push(k); });
      if (!live.length) return Promise.resolve(null);
      return Promise.all(live.map(function (k) { return items[k][heads[k]].data(); })).then(function (datas) {
        var best = 0;
        for (var i = 1; i < datas.length; i++) if (before(datas[i], datas[best])) best = i;
        heads[live[best]] += 1;
        return datas[best];
      });
    }
    return { length: total, next: function (n) {
      return queue(function () {
        var out = [];
        function step() {
          if (out.length >= n) return out;
          return pick().then(function (d) {
            if (!d) return out;
            out.push(d);
            return step();
          });
        }
        return step();
      });
    } };
  }

  function loadShards(bundle, siteRoot) {
    return fetch(new URL("openem-shards.json", bundle).href).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status + " for openem-shards.json");
      return response.json();
    }).then(function (list) {
      var paths = list && list.bundles;
      if (!Array.isArray(paths) || !paths.length || !paths.every(function (p) { return /^[\w-]+\/$/.test(p); })) {
        throw new Error("openem-shards.json lists no bundles");
      }
      return Promise.all(paths.map(function (path) {
        return import(new URL(path + "pagefind.js", siteRoot).href).then(function (pf) {
          return Promise.resolve(pf.options({ baseUrl: siteRoot.pathname, excerptLength: 24 }))
            .then(function () { return pf; });
        });
      }));
    });
  }

  function searchShards(shards, term, options) {
    if (shards.length > 1) {
      // Each shard holds a page of every word in the index (openem_build/search.py): leave it out.
      var filters = Object.assign({}, options.filters, { not: { openem: "vocabulary" } });
      options = Object.assign({}, options, { filters: filters });
    }
    return Promise.all(shards.map(function (pf) { return pf.search(term, options); })).then(function (found) {
      if (found.some(function (f) { return !f; })) return null;
      return {
        filters: mergeFilters(found.map(function (f) { return f.filters; })),
        results: mergedResults(found.map(function (f) { return f.results; }), options.sort)
      };
    });
  }

  // ---- header box (every page) ----
  function initHeader() {
    var form = document.querySelector("form.openem-header-search");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var input = form.querySelector("input[type=search]");
    var target = form.getAttribute("data-openem-search");
    var params = new URLSearchParams(window.location.search);
    if (document.getElementById("openem-search") && params.get("q")) input.value = params.get("q");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = input.value.trim();
      var page = document.getElementById("openem-search");
      if (page && page.openemSetQuery) {
        page.openemSetQuery(q);
        return;
      }
      window.location.href = target + (q ? "?q=" + encodeURIComponent(q) : "");
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !isEditable(document.activeElement)) {
        e.preventDefault();
        var main = document.getElementById("openem-search-q");
        (main || input).focus();
      }
    });
  }

  // ---- Search page ----
  function initPage() {
    var form = document.getElementById("openem-search");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var input = document.getElementById("openem-search-q");
    var sort = document.getElementById("openem-search-sort");
    var status = document.getElementById("openem-search-status");
    var list = document.getElementById("openem-search-results");
    var more = document.getElementById("openem-search-more");
    var clear = document.getElementById("openem-search-clear");
    var filtersBox = document.getElementById("openem-search-filters");
    var chosenText = document.getElementById("openem-search-chosen");
    var kindBoxes = Array.prototype.slice.call(form.querySelectorAll("input[name=kind]"));
    var kind = ""; // "" datasets, "pages" the site's other pages
    var header = document.getElementById("openem-header-q");
    var facets = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-facet]"));
    var facetNames = facets.map(function (f) { return f.getAttribute("data-facet"); });
    var bundle = new URL(form.getAttribute("data-bundle"), window.location.href);
    var siteRoot = new URL("../", bundle);
    var shards = null;
    var totals = {};
    var selected = {};
    var results = NO_RESULTS;
    var shown = 0;
    var generation = 0;
    input.name = "q"; // the URL parameter of the Search page; "text" (Browse's) is for the no-script fallback

    function readUrl() {
      var params = new URLSearchParams(window.location.search);
      input.value = params.get("q") || "";
      if (header) header.value = input.value;
      sort.value = SORTS[params.get("sort")] ? params.get("sort") : "";
      kind = params.get("kind") === "pages" ? "pages" : "";
      kindBoxes.forEach(function (b) { b.checked = b.value === kind; });
      selected = {};
      facetNames.forEach(function (name) {
        var values = params.getAll(name).filter(Boolean);
        if (values.length) selected[name] = values;
      });
    }

    function writeUrl(push) {
      var params = new URLSearchParams();
      if (input.value.trim()) params.set("q", input.value.trim());
      facetNames.forEach(function (name) {
        (selected[name] || []).forEach(function (v) { params.append(name, v); });
      });
      if (sort.value) params.set("sort", sort.value);
      if (kind) params.set("kind", kind);
      var query = params.toString();
      var url = window.location.pathname + (query ? "?" + query : "");
      if (url !== window.location.pathname + window.location.search) {
        if (push) history.pushState(null, "", url);
        else history.replaceState(null, "", url);
      }
    }

    function filterArgument() {
      var filters = {};
      Object.keys(selected).forEach(function (name) {
        if (selected[name].length) filters[name] = { any: selected[name] };
      });
      return filters;
    }

    function renderFacets(counts) {
      facets.forEach(function (fieldset) {
        var name = fieldset.getAttribute("data-facet");
        var all = totals[name] || {};
        var chosen = selected[name] || [];
        var values = Object.keys(all);
        chosen.forEach(function (v) { if (values.indexOf(v) === -1) values.push(v); });
        var current = (counts && counts[name]) || {};
        values.sort(function (a, b) {
          if (name === "year") return b.localeCompare(a);
          return (current[b] || 0) - (current[a] || 0) || a.localeCompare(b, "en", { sensitivity: "base" });
        });
        var ul = fieldset.querySelector("ul");
        ul.textContent = "";
        // Only values some result has (and those chosen): a value that would give nothing is not offered.
        values = values.filter(function (value) {
          return (counts ? (current[value] || 0) : (all[value] || 0)) > 0 || chosen.indexOf(value) !== -1;
        });
        values.forEach(function (value) {
          var n = counts ? (current[value] || 0) : (all[value] || 0);
          var isOn = chosen.indexOf(value) !== -1;
          var li = el("li");
          var label = el("label");
          var box = el("input", { type: "checkbox", name: name, value: value });
          box.checked = isOn;
          label.appendChild(box);
          label.appendChild(el("span", { "class": "openem-facet__value" }, value));
          label.appendChild(el("span", { "class": "openem-facet__count", "aria-label": n + " results" }, String(n)));
          li.appendChild(label);
          ul.appendChild(li);
        });
        fieldset.hidden = values.length === 0;
      });
      var nChosen = Object.keys(selected).reduce(function (n, k) { return n + selected[k].length; }, 0);
      clear.hidden = nChosen === 0;
      chosenText.textContent = nChosen ? " (" + nChosen + " chosen)" : "";
    }

    function metaLine(data) {
      var f = data.filters || {};
      var m = data.meta || {};
      var parts = [];
      ["technique", "facility", "organism"].forEach(function (k) { if (f[k] && f[k][0]) parts.push(f[k][0]); });
      if (m.resolution) parts.push(m.resolution);
      if (m.size) parts.push(m.size);
      if (m.published) parts.push(m.published);
      return parts.join(" · ");
    }

    function renderResult(data, index, query) {
      var meta = data.meta || {};
      var isDataset = !!(data.filters && data.filters.technique);
      // The dataset's thumbnail (render/searchmeta.py: a path under the site's root): 80 CSS pixels wide, its
      // 160 px file for sharp screens. (Pages have no such image: Pagefind's own guess is not shown.)
      var image = isDataset && meta.image && /^datasets\/[\w.\/-]+\.png$/.test(meta.image) ? meta.image : null;
      var li = el("li", { "class": "openem-result" + (image ? " openem-result--image" : "") });
      if (image) {
        var h80 = Math.max(1, Math.round((parseInt(meta.image_h, 10) || 160) / 2));
        li.appendChild(el("img", { "class": "openem-result__image", src: new URL(image, siteRoot).pathname,
          width: "80", height: String(h80), alt: plain(meta.image_alt) || "", loading: "lazy", decoding: "async" }));
      }
      var body = el("div", { "class": "openem-result__body" });
      var a = el("a", { href: data.url, "class": "openem-result__title",
        "data-result-index": String(index) }, plain(meta.title) || data.url);
      var h = el("h3");
      h.appendChild(a);
      body.appendChild(h);
      var line = isDataset ? metaLine(data) : "Page";
      if (line) body.appendChild(el("p", { "class": "openem-result__meta" }, line));
      var p = el("p", { "class": "openem-result__excerpt" });
      // Datasets: the start of the description; pages: Pagefind's excerpt around the words found.
      if (isDataset && meta.summary) p.appendChild(summaryNodes(plain(meta.summary), query));
      else p.appendChild(excerptNodes(data.excerpt));
      body.appendChild(p);
      li.appendChild(body);
      return li;
    }

    function showMore() {
      var gen = generation;
      var start = shown;
      var count = Math.min(PAGE_SIZE, results.length - shown);
      shown += count;
      more.hidden = shown >= results.length;
      return results.next(count).then(function (datas) {
        if (gen !== generation) return;
        var q = input.value.trim();
        datas.forEach(function (d, i) { list.appendChild(renderResult(d, start + i, q)); });
      });
    }

    function plural(n, one, many) { return n.toLocaleString("en") + " " + (n === 1 ? one : many); }

    function run(push) {
      var gen = ++generation;
      var q = input.value.trim();
      var filters = filterArgument();
      var hasFilters = Object.keys(filters).length > 0;
      writeUrl(push);
      if (header) header.value = q;
      var pages = kind === "pages";
      form.classList.toggle("openem-search--pages", pages);
      if (pages) filters = { kind: { any: ["Page"] } };
      else filters.kind = { any: ["Dataset"] };
      countOther(gen, q);
      if (pages ? !q : (!q && !hasFilters && !sort.value)) {
        results = NO_RESULTS;
        list.textContent = "";
        more.hidden = true;
        status.textContent = pages ? "Type words to search the documentation pages." :
          "Type words to search, or choose filters.";
        setCount(kind, null);
        renderFacets(null);
        form.removeAttribute("aria-busy");
        return Promise.resolve();
      }
      form.setAttribute("aria-busy", "true");
      var options = { filters: filters };
      if (sort.value && !pages) options.sort = SORTS[sort.value];
      if (!q && !sort.value && !pages) options.sort = SORTS.newest; // browsing by filters: newest first
      var found = null;
      return searchShards(shards, q || ALL, options).then(function (search) {
        if (gen !== generation || !search) return null;
        found = search;
        return facetCounts(q || ALL, filters, search.filters);
      }).then(function (counts) {
        if (gen !== generation || !found) return;
        var search = found;
        results = search.results;
        shown = 0;
        list.textContent = "";
        renderFacets(counts);
        var n = results.length;
        setCount(kind, n);
        status.textContent = n ? plural(n, "result", "results") + (q ? " for “" + q + "”" : "") :
          "Nothing found" + (q ? " for “" + q + "”" : "") + (hasFilters ? " with these filters." : ".");
        return showMore();
      }).then(function () {
        if (gen === generation) form.removeAttribute("aria-busy");
      });
    }

    // The values a facet offers while some of its own are chosen: those of the results without its own choice
    // (values of one facet add up, "any"), so that a second one can be chosen; the other facets' counts are
    // those of the results.
    function facetCounts(term, filters, counts) {
      var names = kind === "pages" ? [] : Object.keys(selected);
      if (!names.length) return Promise.resolve(counts);
      return Promise.all(names.map(function (name) {
        var without = Object.assign({}, filters);
        delete without[name];
        return searchShards(shards, term, { filters: without }).then(function (other) {
          return [name, other && other.filters ? other.filters[name] : null];
        });
      })).then(function (pairs) {
        var out = Object.assign({}, counts);
        pairs.forEach(function (pair) { if (pair[1]) out[pair[0]] = pair[1]; });
        return out;
      });
    }

    // The number of results of the list not shown, on its tab (datasets: with the filters chosen).
    function setCount(which, n) {
      var span = form.querySelector("[data-kind-count='" + which + "']");
      if (span) span.textContent = n === null || n === undefined ? "" : "(" + n.toLocaleString("en") + ")";
    }
    function countOther(gen, q) {
      var other = kind === "pages" ? "" : "pages";
      if (!q && other === "pages") { setCount(other, null); return; }
      var f = other === "pages" ? { kind: { any: ["Page"] } } : Object.assign(filterArgument(), { kind: { any: ["Dataset"] } });
      searchShards(shards, q || ALL, { filters: f }).then(function (found) {
        if (gen === generation && found) setCount(other, found.results.length);
      });
    }

    var timer = null;
    function debounced() {
      clearTimeout(timer);
      timer = setTimeout(function () { run(false); }, 150);
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      clearTimeout(timer);
      run(true);
    });
    input.addEventListener("input", debounced);
    sort.addEventListener("change", function () { run(true); });
    kindBoxes.forEach(function (b) {
      b.addEventListener("change", function () {
        if (!b.checked) return;
        kind = b.value;
        run(true);
      });
    });
    form.addEventListener("change", function (e) {
      var t = e.target;
      if (t.type !== "checkbox") return;
      var values = selected[t.name] || [];
      if (t.checked && values.indexOf(t.value) === -1) values.push(t.value);
      if (!t.checked) values = values.filter(function (v) { return v !== t.value; });
      if (values.length) selected[t.name] = values;
      else delete selected[t.name];
      run(true).then(function () {
        // The facet lists are redrawn: keep the focus on the box the reader just used.
        var box = form.querySelector("input[type=checkbox][name='" + t.name + "'][value='" +
          t.value.replace(/['\\]/g, "\\$&") + "']");
        if (box) box.focus();
      });
    });
    clear.addEventListener("click", function () {
      selected = {};
      run(true).then(function () { input.focus(); });
    });
    more.addEventListener("click", function () {
      var next = shown;
      showMore().then(function () {
        var a = list.querySelector("a[data-result-index='" + next + "']");
        if (a) a.focus();
      });
    });
    // Arrow keys: from the box into the results and through them; Escape goes back to the box.
    form.addEventListener("keydown", function (e) {
      var links = Array.prototype.slice.call(list.querySelectorAll("a.openem-result__title"));
      var i = links.indexOf(document.activeElement);
      if (e.key === "ArrowDown" && (document.activeElement === input || i !== -1)) {
        if (links[i + 1]) { links[i + 1].focus(); e.preventDefault(); }
      } else if (e.key === "ArrowUp" && i !== -1) {
        (i > 0 ? links[i - 1] : input).focus();
        e.preventDefault();
      } else if (e.key === "Escape" && i !== -1) {
        input.focus();
        e.preventDefault();
      }
    });
    window.addEventListener("popstate", function () { readUrl(); run(false); });
    form.openemSetQuery = function (q) { input.value = q; run(true); input.focus(); };

    // Small screens: the filters start folded (their summary says how many are chosen), so that the first
    // results show on the first screen.
    if (window.matchMedia && window.matchMedia("(max-width: 60em)").matches) filtersBox.open = false;
    readUrl();
    status.textContent = "Loading the search index…";
    loadShards(bundle, siteRoot).then(function (loaded) {
      shards = loaded;
      return Promise.all(shards.map(function (pf) { return pf.filters(); }));
    }).then(function (all) {
      totals = mergeFilters(all);
      form.classList.add("openem-search--ready");
      return run(false);
    }).then(function () {
      if (!input.value) input.focus();
    }).catch(function (err) {
      status.textContent = "";
      status.appendChild(document.createTextNode("The search index could not be loaded (" + err.message +
        "). "));
      var a = el("a", { href: new URL("browse/", siteRoot).pathname }, "Browse all datasets");
      status.appendChild(a);
      status.appendChild(document.createTextNode(" instead."));
    });
  }

  function init() {
    initHeader();
    initPage();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
