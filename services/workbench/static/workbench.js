// The workbench's light script: district maps (Leaflet; the district polygons are the base layer unless a
// tile URL is configured), the console's click-to-place, the dashboard's hotspot map (leaflet.heat) and its
// folded tables kept open across refreshes, and nothing else; every form works without it.
(function () {
  "use strict";

  function districts() {
    var node = document.getElementById("districts-data");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  var PERMANENT_COUNTS = 20;  // the hotspot map writes each district's count on it up to this many districts
  var DISTRICT_STYLE = { color: "#1a4480", weight: 2, fillColor: "#73b3e7", fillOpacity: 0.25 };
  var HIGHLIGHT_STYLE = { color: "#1a4480", weight: 4, fillColor: "#2378c3", fillOpacity: 0.45 };

  // Each district's name is a tooltip shown on hover, or on keyboard focus of its outline (never all at
  // once: a city of 71 districts would pile its labels up). `highlight` is the case's district (id or name).
  function districtLayer(map, data, highlight) {
    var chosen = null;
    var layer = L.geoJSON(data, {
      style: function (feature) {
        var p = feature.properties || {};
        var mine = highlight && (p.id === highlight || p.name === highlight);
        return mine ? HIGHLIGHT_STYLE : DISTRICT_STYLE;
      },
      onEachFeature: function (feature, l) {
        var p = feature.properties || {};
        l.bindTooltip(p.name, { sticky: true, direction: "top", className: "wb-district-label" });
        if (highlight && (p.id === highlight || p.name === highlight)) { chosen = l; }
      },
    }).addTo(map);
    // The outlines exist once the map has a view (Leaflet adds layers then): make them focusable there.
    map.whenReady(function () {
      layer.eachLayer(function (l) {
        var path = l.getElement && l.getElement();
        if (!path) { return; }
        path.setAttribute("tabindex", "0");
        path.setAttribute("role", "img");
        path.setAttribute("aria-label", l.feature.properties.name);
        path.addEventListener("focus", function () { l.openTooltip(l.getBounds().getCenter()); });
        path.addEventListener("blur", function () { l.closeTooltip(); });
      });
      if (chosen) { chosen.bringToFront(); }
    });
    return { layer: layer, chosen: chosen };
  }

  function baseMap(element, data, highlight) {
    var map = L.map(element, { attributionControl: false, zoomSnap: 0.25, keyboard: true });
    var drawn = null;
    if (data) {
      drawn = districtLayer(map, data, highlight);
      map.fitBounds(drawn.layer.getBounds(), { padding: [10, 10] });
    } else {
      map.setView([0, 0], 2);
    }
    return { map: map, chosen: drawn && drawn.chosen };
  }

  function caseMap() {
    var element = document.getElementById("case-map");
    if (!element || typeof L === "undefined") { return; }
    var lat = parseFloat(element.dataset.lat), lng = parseFloat(element.dataset.long);
    var drawn = baseMap(element, districts(), element.dataset.district || null);
    var map = drawn.map;
    if (!isNaN(lat) && !isNaN(lng)) {
      var point = L.latLng(lat, lng);
      L.circleMarker(point, { radius: 8, color: "#b50909", weight: 3, fillColor: "#d54309", fillOpacity: 0.9 })
        .addTo(map);
      // Centred on the case's point, close enough to show its district (street level without one).
      var zoom = drawn.chosen ? map.getBoundsZoom(drawn.chosen.getBounds(), false, L.point(20, 20)) : 15;
      map.setView(point, Math.min(Math.max(zoom, 13), 17));
    } else if (drawn.chosen) {
      map.fitBounds(drawn.chosen.getBounds(), { padding: [10, 10] });
    }
  }

  function consoleMap() {
    var element = document.getElementById("console-map");
    if (!element || typeof L === "undefined") { return; }
    var map = baseMap(element, districts(), null).map;
    var marker = null;
    var latInput = document.getElementById("lat"), longInput = document.getElementById("long");
    function place(latlng) {
      latInput.value = latlng.lat.toFixed(6);
      longInput.value = latlng.lng.toFixed(6);
      if (marker) { marker.setLatLng(latlng); } else {
        marker = L.circleMarker(latlng, { radius: 8, color: "#b50909", weight: 3, fillColor: "#d54309", fillOpacity: 0.9 }).addTo(map);
      }
    }
    map.on("click", function (e) { place(e.latlng); });
    if (latInput.value && longInput.value) {
      var lat = parseFloat(latInput.value), lng = parseFloat(longInput.value);
      if (!isNaN(lat) && !isNaN(lng)) { place(L.latLng(lat, lng)); }
    }
  }

  // The dashboard's hotspot map: the district polygons shaded by their count (the count in each one's
  // tooltip and accessible name), the requests' points as a heat layer, tiles underneath when configured.
  // The points are fetched again only when the figures htmx swaps in every 2 s carry a new version.
  function hotspotMap() {
    var element = document.getElementById("hotspot-map");
    if (!element || typeof L === "undefined") { return; }
    var map = L.map(element, { attributionControl: !!element.dataset.tileUrl, zoomSnap: 0.25, keyboard: true });
    if (element.dataset.tileUrl) {
      L.tileLayer(element.dataset.tileUrl, { attribution: element.dataset.tileAttribution || "", maxZoom: 19 }).addTo(map);
    }
    var data = districts(), outlines = null, heat = null, version = null, loading = false;
    var countLabel = element.dataset.countLabel || "";
    var permanent = !!data && (data.features || []).length <= PERMANENT_COUNTS;
    if (data) {
      outlines = L.geoJSON(data, { style: function () { return DISTRICT_STYLE; } }).addTo(map);
      map.fitBounds(outlines.getBounds(), { padding: [10, 10] });
    } else {
      map.setView([0, 0], 2);
    }
    var openedAt = map.getZoom();

    function shade(counts) {
      if (!outlines) { return; }
      var top = 0;
      counts.forEach(function (c) { top = Math.max(top, c.count); });
      var byId = {};
      counts.forEach(function (c) { byId[c.id] = c.count; });
      outlines.eachLayer(function (l) {
        var p = l.feature.properties || {}, n = byId[p.id] || 0;
        l.setStyle({ color: "#1a4480", weight: 2, fillColor: "#1a4480", fillOpacity: top ? 0.08 + 0.42 * n / top : 0.08 });
        var text = p.name + ": " + n + " " + countLabel.toLowerCase();
        if (l.getTooltip()) { l.setTooltipContent(permanent ? String(n) : text); } else if (permanent) {
          // A few districts: each one's count written on it (a big city's would pile up: hover or focus).
          l.bindTooltip(String(n), { permanent: true, direction: "center", className: "wb-district-count" });
        } else {
          l.bindTooltip(text, { sticky: true, direction: "top", className: "wb-district-label" });
        }
        var path = l.getElement && l.getElement();
        if (path) {
          path.setAttribute("aria-label", text);
          if (!path.hasAttribute("tabindex")) {
            path.setAttribute("tabindex", "0");
            path.setAttribute("role", "img");
            if (!permanent) {
              path.addEventListener("focus", function () { l.openTooltip(l.getBounds().getCenter()); });
              path.addEventListener("blur", function () { l.closeTooltip(); });
            }
          }
        }
      });
    }

    function load() {
      if (loading) { return; }
      loading = true;
      fetch(element.dataset.src, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (found) {
          if (!found) { return; }
          version = found.version;
          element.dataset.version = version;
          shade(found.districts || []);
          if (typeof L.heatLayer === "function") {
            var points = found.points || [];
            // One point is one request: a hotspot of a few dozen turns red, a city's thousands do not
            // paint every district red (leaflet.heat's max is the intensity drawn as the hottest).
            // maxZoom is the zoom the map opened at: leaflet.heat weakens points below it, which would
            // leave a lone report a faint smudge on the city's view.
            var options = { radius: 20, blur: 18, minOpacity: 0.3, maxZoom: Math.floor(openedAt),
                            max: Math.max(1, Math.sqrt(points.length) / 4) };
            if (heat) { heat.setOptions(options); heat.setLatLngs(points); } else {
              heat = L.heatLayer(points, options).addTo(map);
            }
          }
          element.dataset.points = String((found.points || []).length);
        })
        .catch(function () { /* the figures' alert says insights is unavailable */ })
        .then(function () { loading = false; });
    }

    load();
    document.body.addEventListener("htmx:afterSwap", function () {
      var figures = document.getElementById("dashboard-figures");
      var next = figures && figures.dataset.hotspotsVersion;
      if (next && next !== version) { load(); }
    });
  }

  // The dashboard's folded tables (<details>) stay open across htmx's swap of the figures every 2 s: the
  // swapped-in copy comes closed, so each one the user opened is opened again (htmx restores the focus).
  function keepFoldsOpen() {
    var opened = {};
    document.addEventListener("toggle", function (event) {
      var fold = event.target;
      if (fold.tagName === "DETAILS" && fold.id) { opened[fold.id] = fold.open; }
    }, true);
    document.body.addEventListener("htmx:afterSwap", function () {
      Object.keys(opened).forEach(function (id) {
        var fold = document.getElementById(id);
        if (fold && opened[id] && !fold.open) { fold.open = true; }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    caseMap(); consoleMap(); hotspotMap(); keepFoldsOpen();
  });
})();
