// The resident portal's light script: the report map (Leaflet; tiles when configured, else the district
// polygons as the base layer), the category search, questions/help/nearby fragments (htmx), photo uploads
// to /photos, and the case page's map. Every form works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("pt-js");

  var PIN = { radius: 9, color: "#b50909", weight: 3, fillColor: "#d54309", fillOpacity: 0.9 };
  var DISTRICT_STYLE = { color: "#1a4480", weight: 2, fillColor: "#73b3e7", fillOpacity: 0.25 };

  function districts() {
    var node = document.getElementById("districts-data");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function baseMap(element) {
    var map = L.map(element, { zoomSnap: 0.25, keyboard: true, attributionControl: !!element.dataset.tileUrl });
    var data = districts();
    var tiles = element.dataset.tileUrl;
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: element.dataset.tileAttribution || "" }).addTo(map);
    }
    if (data) {
      var layer = L.geoJSON(data, {
        style: function () { return tiles ? { color: "#1a4480", weight: 1, fill: false } : DISTRICT_STYLE; },
        onEachFeature: function (feature, l) {
          var p = feature.properties || {};
          l.bindTooltip(p.name, { sticky: true, direction: "top", className: "pt-district-label" });
        },
        interactive: !tiles,
      }).addTo(map);
      map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    } else {
      map.setView([0, 0], 2);
    }
    return map;
  }

  function refresh(target, url) {
    if (typeof htmx === "undefined") { return; }
    htmx.ajax("GET", url, { target: target, swap: "innerHTML" });
  }

  function reportPage() {
    var form = document.getElementById("report-form");
    if (!form) { return; }
    var select = document.getElementById("service_code");
    var latInput = document.getElementById("lat"), longInput = document.getElementById("long");
    var description = document.getElementById("description");

    function nearby() {
      var lat = parseFloat(latInput.value), lng = parseFloat(longInput.value);
      if (!select.value || isNaN(lat) || isNaN(lng)) { document.getElementById("nearby").innerHTML = ""; return; }
      refresh("#nearby", "/report/nearby?service_code=" + encodeURIComponent(select.value) +
              "&lat=" + lat.toFixed(6) + "&long=" + lng.toFixed(6));
    }
    function help() {
      var words = description.value.slice(0, 200);
      refresh("#help-panel", "/report/help?service_code=" + encodeURIComponent(select.value) + "&q=" + encodeURIComponent(words));
    }

    // Category search: hides the options that do not match the words typed (accents and case ignored) in
    // the option's text, its group or its data-search (the service's names, labels and keywords in every
    // language, folded by the server).
    var search = document.getElementById("category-search");
    search.parentElement.hidden = false;
    function fold(s) { return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); }
    search.addEventListener("input", function () {
      var words = fold(search.value).split(/\s+/).filter(Boolean);
      var first = null;
      Array.prototype.forEach.call(select.querySelectorAll("option"), function (o) {
        if (!o.value) { return; }
        var text = fold(o.textContent + " " + (o.parentElement.label || "") + " " + (o.getAttribute("data-search") || ""));
        var show = words.every(function (w) { return text.indexOf(w) >= 0; });
        o.hidden = !show; o.disabled = !show;
        if (show && !first) { first = o; }
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (g) {
        g.hidden = !g.querySelector("option:not([hidden])");
      });
      if (first && words.length && (select.selectedIndex <= 0 || select.options[select.selectedIndex].hidden)) {
        select.value = first.value;
        select.dispatchEvent(new Event("change"));
      }
    });

    select.addEventListener("change", function () {
      refresh("#questions", "/report/questions?service_code=" + encodeURIComponent(select.value));
      help();
      nearby();
    });
    var typing = null;
    description.addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(help, 600);
    });

    // The map: a click places the pin and fills latitude and longitude; typing them moves the pin.
    var element = document.getElementById("report-map");
    if (element && typeof L !== "undefined") {
      var map = baseMap(element), marker = null;
      var place = function (latlng, pan) {
        latInput.value = latlng.lat.toFixed(6);
        longInput.value = latlng.lng.toFixed(6);
        if (marker) { marker.setLatLng(latlng); } else { marker = L.circleMarker(latlng, PIN).addTo(map); }
        if (pan) { map.panTo(latlng); }
        nearby();
      };
      map.on("click", function (e) { place(e.latlng, false); });
      var typed = function () {
        var lat = parseFloat(latInput.value), lng = parseFloat(longInput.value);
        if (!isNaN(lat) && !isNaN(lng)) { place(L.latLng(lat, lng), true); }
      };
      latInput.addEventListener("change", typed);
      longInput.addEventListener("change", typed);
      if (latInput.value && longInput.value) { typed(); }
    }

    // Photos: each chosen file is sent to /photos at once; the form then carries its id, not the file.
    var input = document.getElementById("photo"), list = document.getElementById("photo-list");
    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (file) {
        var item = document.createElement("li");
        var status = document.createElement("span");
        status.className = "pt-photo-status";
        status.textContent = list.dataset.uploading + " " + file.name;
        item.appendChild(status);
        list.appendChild(item);
        var body = new FormData();
        body.append("photo", file);
        fetch("/photos", { method: "POST", body: body, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
          .then(function (photo) {
            var img = document.createElement("img");
            img.src = "/media/" + photo.id + ".jpg";
            img.alt = list.dataset.uploaded + ": " + file.name;
            img.className = "pt-photo";
            var hidden = document.createElement("input");
            hidden.type = "hidden"; hidden.name = "photo_id"; hidden.value = photo.id;
            item.replaceChildren(img, hidden);
          })
          .catch(function () { status.textContent = list.dataset.failed + " " + file.name; });
      });
      input.value = "";
    });
  }

  function casePage() {
    var element = document.getElementById("case-map");
    if (!element || typeof L === "undefined") { return; }
    var map = baseMap(element);
    var point = L.latLng(parseFloat(element.dataset.lat), parseFloat(element.dataset.long));
    L.circleMarker(point, PIN).addTo(map);
    map.setView(point, 15);
  }

  document.addEventListener("DOMContentLoaded", function () { reportPage(); casePage(); });
})();
