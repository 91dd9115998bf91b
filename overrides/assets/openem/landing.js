/* Landing pages (openem_build/templates/dataset.html), as progressive enhancement: without this script the
   previews are links to their images and the file tables are plain tables.
   - The preview gallery opens a preview large in a modal dialog: Enter or a click opens it, the arrow keys go to
     the previous and next preview, Escape closes it and the focus returns to the preview shown last.
   - File tables sort by any column (a button in each heading: keyboard and screen readers get it), and one
     filter box above them shows only the files whose path or format holds every word typed. */
(function () {
  "use strict";

  function gallery(list) {
    var links = Array.prototype.slice.call(list.querySelectorAll("a.openem-preview__open"));
    if (!links.length || typeof HTMLDialogElement !== "function") return;
    var dialog = document.createElement("dialog");
    dialog.className = "openem-lightbox";
    dialog.setAttribute("aria-labelledby", "openem-lightbox-caption");
    dialog.innerHTML =
      '<figure class="openem-lightbox__figure"><img class="openem-lightbox__img" alt="">' +
      '<figcaption id="openem-lightbox-caption" class="openem-lightbox__caption"></figcaption></figure>' +
      '<div class="openem-lightbox__bar">' +
      '<button type="button" class="openem-lightbox__prev">\u2039 Previous</button>' +
      '<span class="openem-lightbox__count" aria-live="polite"></span>' +
      '<button type="button" class="openem-lightbox__next">Next \u203a</button>' +
      '<button type="button" class="openem-lightbox__close">Close</button></div>';
    document.body.appendChild(dialog);
    var img = dialog.querySelector("img"), caption = dialog.querySelector("figcaption");
    var count = dialog.querySelector(".openem-lightbox__count");
    var prev = dialog.querySelector(".openem-lightbox__prev"), next = dialog.querySelector(".openem-lightbox__next");
    var close = dialog.querySelector(".openem-lightbox__close");
    var current = 0;
    if (links.length < 2) { prev.hidden = true; next.hidden = true; count.hidden = true; }

    function show(i) {
      current = (i + links.length) % links.length;
      var link = links[current], thumb = link.querySelector("img");
      var w = +link.getAttribute("data-width") || thumb.naturalWidth || 256;
      var h = +link.getAttribute("data-height") || thumb.naturalHeight || 256;
      // As large as the window allows: images of data enlarged by a whole factor, their pixels kept square;
      // plots never above their natural size.
      var fit = Math.min((window.innerWidth * 0.96 - 32) / w, (window.innerHeight * 0.96 - 180) / h);
      var data = link.hasAttribute("data-pixelated");
      var scale = data && fit >= 1 ? Math.floor(fit) : Math.max(Math.min(fit, 1), 0.05);
      var pixelated = data && scale > 1;
      img.src = link.getAttribute("href");
      img.alt = thumb.getAttribute("alt") || "";
      img.style.width = Math.round(w * scale) + "px";
      img.style.height = Math.round(h * scale) + "px";
      img.classList.toggle("openem-pixelated", pixelated);
      var figure = link.closest("figure"), text = figure && figure.querySelector("figcaption");
      caption.textContent = text ? text.textContent : "";
      if (img.alt) {
        var alt = document.createElement("span");
        alt.className = "openem-lightbox__alt";
        alt.textContent = img.alt;
        caption.appendChild(alt);
      }
      count.textContent = (current + 1) + " of " + links.length;
    }

    // A preview of data keeps square pixels in the gallery too, but only when shown above its natural size
    // (the page's class, for readers without this script, also applies when it is shown smaller).
    function sharpen() {
      links.forEach(function (link) {
        var thumb = link.querySelector("img");
        if (!link.hasAttribute("data-pixelated") || !thumb.naturalWidth) return;
        thumb.classList.toggle("openem-pixelated", thumb.getBoundingClientRect().width > thumb.naturalWidth);
      });
    }
    links.forEach(function (link) {
      var thumb = link.querySelector("img");
      if (thumb.complete) sharpen(); else thumb.addEventListener("load", sharpen);
    });
    window.addEventListener("resize", sharpen);

    links.forEach(function (link, i) {
      link.addEventListener("click", function (event) {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        show(i);
        dialog.showModal();
        close.focus();
      });
    });
    prev.addEventListener("click", function () { show(current - 1); });
    next.addEventListener("click", function () { show(current + 1); });
    close.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight" || event.key === "ArrowDown") { show(current + 1); event.preventDefault(); }
      else if (event.key === "ArrowLeft" || event.key === "ArrowUp") { show(current - 1); event.preventDefault(); }
      else if (event.key === "Home") { show(0); event.preventDefault(); }
      else if (event.key === "End") { show(links.length - 1); event.preventDefault(); }
    });
    // A click on the backdrop (outside the dialog's box) closes it.
    dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
    // (After the browser's own focus restoring, which returns to the preview that opened the dialog.)
    dialog.addEventListener("close", function () { setTimeout(function () { links[current].focus(); }, 0); });
  }

  function sortKey(cell) {
    var key = cell.getAttribute("data-sort");
    if (key === null) return { text: cell.textContent.trim().toLowerCase() };
    return { number: key === "" ? null : parseFloat(key) };
  }

  function compare(a, b) {
    if ("text" in a) return a.text.localeCompare(b.text, undefined, { numeric: true });
    if (a.number === null || b.number === null) return (a.number === null) - (b.number === null);
    return a.number - b.number;
  }

  function sortable(table) {
    var head = table.tHead && table.tHead.rows[0], body = table.tBodies[0];
    if (!head || !body) return;
    Array.prototype.forEach.call(head.cells, function (th, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "openem-sort";
      button.innerHTML = '<span></span><span class="openem-sort__icon" aria-hidden="true"></span>';
      button.firstChild.textContent = th.textContent;
      button.setAttribute("aria-label", "Sort by " + th.textContent.toLowerCase());
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var descending = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(head.cells, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var rows = Array.prototype.map.call(body.rows, function (row, i) {
          return { row: row, key: sortKey(row.cells[column]), i: i };
        });
        rows.sort(function (a, b) {
          // Unknown values last in either direction; ties keep their order.
          var unknownA = a.key.number === null, unknownB = b.key.number === null;
          if (unknownA !== unknownB) return unknownA ? 1 : -1;
          var c = compare(a.key, b.key);
          return (descending ? -c : c) || a.i - b.i;
        });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (r) { fragment.appendChild(r.row); });
        body.appendChild(fragment);
      });
    });
  }

  // A filter box above file tables listing at least this many files.
  var FILTER_FROM = 8;

  function filter(tables) {
    var heading = document.getElementById("files"), total = 0;
    tables.forEach(function (table) { total += table.tBodies[0].rows.length; });
    if (!heading || total < FILTER_FROM) return;
    var box = document.createElement("p");
    box.className = "openem-file-filter";
    box.innerHTML = '<label for="openem-file-filter">Filter the files</label>' +
      '<input type="search" id="openem-file-filter" autocomplete="off" placeholder="name, folder or format"' +
      ' aria-describedby="openem-file-filter-status">' +
      '<span id="openem-file-filter-status" class="openem-file-filter__status" role="status" aria-live="polite"></span>';
    heading.parentNode.insertBefore(box, heading.nextSibling);
    var input = box.querySelector("input"), status = box.querySelector("span");
    var rows = [];
    tables.forEach(function (table) {
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var path = row.getAttribute("data-path") || "";
        var format = row.cells[1] ? row.cells[1].textContent : "";
        rows.push({ row: row, text: (path + " " + format).toLowerCase(), group: table.closest("details") });
      });
    });
    var timer = null;
    function apply() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0, groups = new Map();
      rows.forEach(function (r) {
        var match = words.every(function (w) { return r.text.indexOf(w) !== -1; });
        r.row.hidden = !match;
        if (match) shown += 1;
        if (r.group) groups.set(r.group, (groups.get(r.group) || 0) + (match ? 1 : 0));
      });
      groups.forEach(function (n, group) {
        group.hidden = words.length > 0 && n === 0;
        if (words.length && n > 0) group.open = true;
      });
      status.textContent = words.length ? shown + " of " + rows.length + " files listed match" : "";
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 120); });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-openem-gallery]"), gallery);
    var tables = Array.prototype.slice.call(document.querySelectorAll("table[data-openem-sortable]"));
    tables.forEach(sortable);
    filter(tables);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
