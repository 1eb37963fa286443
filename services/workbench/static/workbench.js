// The workbench's light script: district maps (Leaflet, no tiles: polygons on a plain background), the
// console's click-to-place, and nothing else; every form works without it.
(function () {
  "use strict";

  function districts() {
    var node = document.getElementById("districts-data");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

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

  document.addEventListener("DOMContentLoaded", function () { caseMap(); consoleMap(); });
})();
