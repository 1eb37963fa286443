// Agent console: sends the form to the agent API with the agent's token, then polls for the case number.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var pollMs = parseInt(document.body.dataset.pollIntervalMs, 10) || 1000;
  var unavailable = document.body.dataset.unavailable;
  var tokenInput = $("agent-token");
  tokenInput.value = sessionStorage.getItem("omni311-agent-token") || "";
  tokenInput.addEventListener("change", function () { sessionStorage.setItem("omni311-agent-token", tokenInput.value); });

  function newRequestId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "ui-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  // Kept until a submission is accepted, so that re-sending after a network error is the same request.
  var requestId = newRequestId();

  function call(method, path, body) {
    var headers = { "Authorization": "Bearer " + tokenInput.value.trim() };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (data) { return { status: r.status, data: data }; });
      });
  }

  function showErrors(list) {
    var ul = $("errors");
    ul.textContent = "";
    (list || []).forEach(function (text) { var li = document.createElement("li"); li.textContent = text; ul.appendChild(li); });
  }

  function open311Errors(res) {
    if (Array.isArray(res.data)) { return res.data.map(function (e) { return e.description; }); }
    // 401/403 from the sign-in check: {"detail": "..."}
    if (res.data && typeof res.data.detail === "string") { return [res.data.detail]; }
    return ["the server answered " + res.status];
  }

  // The district map: a click becomes lat/long (inverse of the page's equirectangular projection).
  var map = $("district-map");
  function placeMarker() {
    var lat = parseFloat($("lat").value), lon = parseFloat($("long").value), m = $("map-marker");
    if (!map || isNaN(lat) || isNaN(lon)) { if (m) { m.setAttribute("visibility", "hidden"); } return; }
    var k = parseFloat(map.dataset.k), c = parseFloat(map.dataset.cosLat);
    m.setAttribute("cx", (lon - parseFloat(map.dataset.west)) * c * k);
    m.setAttribute("cy", (parseFloat(map.dataset.north) - lat) * k);
    m.setAttribute("visibility", "visible");
  }
  if (map) {
    map.addEventListener("click", function (ev) {
      var pt = map.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      var p = pt.matrixTransform(map.getScreenCTM().inverse());
      var k = parseFloat(map.dataset.k), c = parseFloat(map.dataset.cosLat);
      $("lat").value = (parseFloat(map.dataset.north) - p.y / k).toFixed(6);
      $("long").value = (parseFloat(map.dataset.west) + p.x / (k * c)).toFixed(6);
      placeMarker();
    });
    $("lat").addEventListener("change", placeMarker);
    $("long").addEventListener("change", placeMarker);
  }

  $("look-up-caller").addEventListener("click", function () {
    var box = $("earlier");
    box.textContent = "Looking up…";
    call("POST", "/agent/callers", { phone: $("caller-phone").value }).then(function (res) {
      box.textContent = "";
      if (res.status !== 200) { box.textContent = open311Errors(res).join("; "); box.dataset.state = "error"; return; }
      if (!res.data.available) { box.textContent = res.data.message || unavailable; box.dataset.state = "unavailable"; return; }
      if (!res.data.requests.length) { box.textContent = "No earlier cases for " + res.data.phone; box.dataset.state = "none"; return; }
      var ul = document.createElement("ul");
      res.data.requests.forEach(function (r) {
        var li = document.createElement("li");
        li.className = "earlier-case";
        li.dataset.serviceRequestId = r.service_request_id;
        li.textContent = r.service_request_id + " — " + (r.service_name || r.service_code || "") + " — " + r.status +
          (r.requested_datetime ? " — " + r.requested_datetime : "") + (r.address ? " — " + r.address : "");
        ul.appendChild(li);
      });
      box.appendChild(ul);
      box.dataset.state = "found";
    }, function () { box.textContent = unavailable; box.dataset.state = "unavailable"; });
  });

  function pollCase(token, deadline) {
    call("GET", "/agent/tokens/" + encodeURIComponent(token)).then(function (res) {
      var sid = res.status === 200 && res.data ? res.data.service_request_id : null;
      if (sid) {
        var out = $("result");
        out.textContent = "Case number: ";
        var b = document.createElement("strong");
        b.id = "case-number";
        b.textContent = sid;
        out.appendChild(b);
        out.dataset.serviceRequestId = sid;
        return;
      }
      if (Date.now() > deadline) { $("result").textContent = "Request logged (token " + token + "); the case number is not ready yet — look the caller up in a moment."; return; }
      setTimeout(function () { pollCase(token, deadline); }, pollMs);
    }, function () { setTimeout(function () { pollCase(token, deadline); }, pollMs); });
  }

  $("request-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    showErrors([]);
    var body = {
      request_id: requestId,
      caller_phone: $("caller-phone").value,
      caller_name: $("caller-name").value,
      service_code: $("service-code").value,
      description: $("description").value,
      address: $("address").value,
      lat: $("lat").value,
      long: $("long").value
    };
    $("submit").disabled = true;
    call("POST", "/agent/requests", body).then(function (res) {
      $("submit").disabled = false;
      if (res.status === 202) {
        requestId = newRequestId();
        var out = $("result");
        out.textContent = "Request logged, token " + res.data.token + "; waiting for the case number…";
        out.dataset.token = res.data.token;
        pollCase(res.data.token, Date.now() + 60000);
        return;
      }
      showErrors(open311Errors(res));
    }, function () { $("submit").disabled = false; showErrors(["the server could not be reached; press Log request again (it will not be logged twice)"]); });
  });
}());
