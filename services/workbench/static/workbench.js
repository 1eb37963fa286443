// The workbench's light script: district maps (Leaflet, no tiles: polygons on a plain background), the
// console's click-to-place, and nothing else; every form works without it.
(function () {
  "use strict";

  function districts() {
    var node = document.getElementById("districts-data");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function baseMap(element, data) {
    var map = L.map(element, { attributionControl: false, zoomSnap: 0.25, keyboard: true });
    if (data) {
      var layer = L.geoJSON(data, {
        style: function () { return { color: "#1a4480", weight: 2, fillColor: "#73b3e7", fillOpacity: 0.25 }; },
        onEachFeature: function (feature, l) {
          l.bindTooltip(feature.properties.name, { permanent: true, direction: "center", className: "wb-district-label" });
        },
      }).addTo(map);
      map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    } else {
      map.setView([0, 0], 2);
    }
    return map;
  }

  function caseMap() {
    var element = document.getElementById("case-map");
    if (!element || typeof L === "undefined") { return; }
    var lat = parseFloat(element.dataset.lat), lng = parseFloat(element.dataset.long);
    var map = baseMap(element, districts());
    if (!isNaN(lat) && !isNaN(lng)) {
      L.circleMarker([lat, lng], { radius: 8, color: "#b50909", weight: 3, fillColor: "#d54309", fillOpacity: 0.9 })
        .addTo(map);
      if (!districts()) { map.setView([lat, lng], 15); }
    }
  }

  function consoleMap() {
    var element = document.getElementById("console-map");
    if (!element || typeof L === "undefined") { return; }
    var map = baseMap(element, districts());
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
