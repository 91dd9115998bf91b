/* The 3D view of a landing page's maps and tomograms (openem_build/templates/dataset.html, render/mapview.py),
   with Mol* (the npm package molstar, copied into the site at build time: assets/molstar/). Only pages with a map
   load this script, and it loads Mol* itself only when a map is shown; nothing comes from another host.
   A map loads by itself when it is small (data-auto), else when the reader asks. It is fetched from its download
   URL in the OpenEM store (gzip-compressed maps are unpacked in the browser) and handed to Mol* as an MRC/CCP4
   volume. The state is on the element for tests and styles: data-state="loading|loaded|error", data-volumes. */
(function () {
  "use strict";
  var root = document.querySelector("[data-openem-mapviewer]");
  if (!root) return;
  var base = root.getAttribute("data-molstar");
  var choice = root.querySelector(".openem-mapviewer__choice");
  var button = root.querySelector(".openem-mapviewer__load");
  var stage = root.querySelector(".openem-mapviewer__stage");
  var status = root.querySelector(".openem-mapviewer__status");
  var viewer = null;

  function say(text) { status.textContent = text; }

  function loadMolstar() {
    if (viewer) return viewer;
    viewer = new Promise(function (resolve, reject) {
      var css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = base + "molstar.css";
      document.head.appendChild(css);
      var script = document.createElement("script");
      script.src = base + "molstar.js";
      script.onload = resolve;
      script.onerror = function () { reject(new Error("the viewer (" + script.src + ") could not be loaded")); };
      document.head.appendChild(script);
    }).then(function () {
      stage.hidden = false;
      // (Mol* draws its controls with React, at any time: label them as they come.)
      if (typeof MutationObserver === "function") new MutationObserver(label).observe(stage, { childList: true, subtree: true });
      return window.molstar.Viewer.create(stage, {
        // A plain viewport: no panels, no extensions (some fetch from other hosts), no remote services.
        extensions: [],
        layoutIsExpanded: false,
        layoutShowControls: false,
        layoutShowRemoteState: false,
        layoutShowSequence: false,
        layoutShowLog: false,
        layoutShowLeftPanel: false,
        viewportShowExpand: true,
        viewportShowSelectionMode: false,
        viewportShowAnimation: false,
        volumeStreamingDisabled: true,
        pluginStateServer: "",
        volumeStreamingServer: ""
      });
    });
    viewer.catch(function () { viewer = null; });
    return viewer;
  }

  // Mol*'s own links and buttons that have no text a screen reader could say (its logo links to molstar.org).
  function label() {
    Array.prototype.forEach.call(stage.querySelectorAll("a, button"), function (el) {
      if (!el.textContent.trim() && !el.getAttribute("aria-label") && !el.getAttribute("title")) {
        el.setAttribute("aria-label", el.classList.contains("msp-logo") ? "Mol* (molstar.org)" : "Mol* viewer control");
      }
    });
  }

  function selected() {
    return choice.tagName === "SELECT" ? choice.options[choice.selectedIndex] : choice;
  }

  function fetchMap(url, compressed) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("the store answered " + response.status + " " + response.statusText);
      if (!compressed) return response.blob();
      if (typeof DecompressionStream !== "function") throw new Error("this browser cannot unpack gzip files");
      return new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).blob();
    });
  }

  function show() {
    var option = selected();
    var url = new URL(option.value || option.getAttribute("value"), document.baseURI).href;
    var name = option.getAttribute("data-name");
    button.disabled = true;
    root.setAttribute("data-state", "loading");
    say("Loading the 3D viewer and " + name + "\u2026");
    var plugin;
    return loadMolstar().then(function (v) {
      plugin = v;
      return Promise.all([fetchMap(url, option.hasAttribute("data-compressed")), v.plugin.clear()]);
    }).then(function (done) {
      var local = URL.createObjectURL(done[0]);
      return plugin.loadVolumeFromUrl({ url: local, format: "ccp4", isBinary: true },
        [{ type: "relative", value: 1.5, color: 0x3377aa }], { entryId: name })
        .finally(function () { URL.revokeObjectURL(local); });
    }).then(function () {
      var volumes = plugin.plugin.managers.volume.hierarchy.current.volumes.length;
      if (!volumes) throw new Error("Mol* could not read it as an MRC/CCP4 map");
      label();
      root.setAttribute("data-volumes", String(volumes));
      root.setAttribute("data-state", "loaded");
      root.setAttribute("data-loaded", name);
      say(name + ": isosurface at 1.5 \u03c3 above the mean. Drag to rotate, scroll to zoom; the viewer\u2019s settings change the level.");
    }).catch(function (error) {
      label();
      root.setAttribute("data-state", "error");
      say(name + " could not be shown in 3D: " + (error && error.message ? error.message : error) +
        ". Download it from the file list below.");
    }).finally(function () { button.disabled = false; });
  }

  button.addEventListener("click", show);
  // One map that loads by itself needs no button; a choice of maps keeps it (to show another one).
  if (choice.tagName !== "SELECT" && choice.hasAttribute("data-auto")) button.parentNode.hidden = true;
  if (choice.tagName === "SELECT") {
    choice.addEventListener("change", function () { if (root.getAttribute("data-state") === "loaded") show(); });
  }
  // A small map loads by itself, after the page (Mol* is 5 MB: it must not hold up the page's own load).
  if (selected().hasAttribute("data-auto")) {
    if (document.readyState === "complete") show();
    else window.addEventListener("load", function () { show(); }, { once: true });
  }
})();
