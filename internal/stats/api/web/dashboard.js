// Live figures without a reload. The page is whole without this file: it
// only asks the JSON API, every few seconds, whether the totals of the
// filter in the URL have changed, and if so swaps in the page's <main> as
// the server renders it now, so charts and tables stay drawn in one place.
(function () {
  "use strict";
  var every = 5000;
  var status = document.getElementById("status");

  function main() { return document.getElementById("live"); }

  function swap() {
    return fetch(location.pathname + location.search, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("live");
        if (!next) { return; }
        demos(doc);
        // Keep the reader's open tables open.
        var open = {};
        main().querySelectorAll("details[open] table").forEach(function (t) { open[t.id] = true; });
        next.querySelectorAll("details table").forEach(function (t) {
          if (open[t.id]) { t.closest("details").open = true; }
        });
        main().replaceWith(document.adoptNode(next));
      });
  }

  // A demo first seen since the page loaded joins the filter's list, unless
  // the reader is in that list right now.
  function demos(doc) {
    var select = document.querySelector("form.filter select[name=demo]");
    var fresh = doc.querySelector("form.filter select[name=demo]");
    if (!select || !fresh || document.activeElement === select || select.options.length === fresh.options.length) { return; }
    // Each option adopted leaves the next one selected in its old list, so
    // the pick is set again from the reader's.
    var picked = select.value;
    var options = Array.prototype.slice.call(fresh.options);
    select.replaceChildren.apply(select, options.map(function (o) { return document.adoptNode(o); }));
    select.value = picked;
  }

  function poll() {
    var m = main();
    if (!m || document.hidden) { return Promise.resolve(); }
    return fetch("/api/overview" + location.search, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (o) {
        var t = o.totals;
        var changed = String(t.sessions) !== m.dataset.sessions || String(t.known) !== m.dataset.known;
        return (changed ? swap() : Promise.resolve()).then(function () {
          status.textContent = "Live: figures as of " + new Date().toLocaleTimeString() + ".";
        });
      })
      .catch(function () {
        status.textContent = "Live updates paused: the server did not answer. Retrying.";
      });
  }

  function loop() { poll().then(function () { setTimeout(loop, every); }); }

  // A picked demo is a new URL at once, so the view can be shared as it is.
  // Dates wait for Show or Enter: a date typed with the keyboard changes at
  // each digit (0002-05-18 after the first of the year), and submitting
  // then reloaded the page under the reader's fingers.
  var form = document.querySelector("form.filter");
  if (form) {
    form.addEventListener("change", function (e) {
      if (e.target.tagName === "SELECT") { form.requestSubmit(); }
    });
  }
  // A filter the server refused has no figures to keep up to date.
  if (!document.querySelector("#live .error")) { setTimeout(loop, every); }
})();
