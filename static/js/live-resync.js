/*
 * Catch up after a live websocket reconnects.
 *
 * The htmx ws extension reconnects a dropped socket with full-jitter exponential backoff, but the
 * events sent while it was down are gone. On every open after the first, this fetches a fresh copy
 * of the page and replaces each live section (an element with an id inside the `ws-connect`
 * element, the targets of the server's hx-swap-oob fragments) with its fresh version. Sections
 * holding a chart (a canvas) are kept, and `peregrine:resync` is dispatched on the ws-connect
 * element so chart code can reload its own data.
 */
(function () {
  "use strict";
  var opened = new WeakSet();

  function liveSections(root) {
    return Array.prototype.filter.call(root.querySelectorAll("[id]"), function (el) {
      var outer = el.parentElement && el.parentElement.closest("[id]");
      return !(outer && root.contains(outer)) && !el.querySelector("canvas");
    });
  }

  function resync(root) {
    var key = root.getAttribute("ws-connect");
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : Promise.reject(response.status);
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = Array.prototype.find.call(page.querySelectorAll("[ws-connect]"), function (el) {
          return el.getAttribute("ws-connect") === key;
        });
        if (!fresh) return;
        liveSections(root).forEach(function (el) {
          var replacement = fresh.querySelector("#" + CSS.escape(el.id));
          if (replacement) htmx.swap(el, replacement.outerHTML, { swapStyle: "outerHTML" });
        });
        root.dispatchEvent(new CustomEvent("peregrine:resync", { bubbles: true }));
      })
      .catch(function (error) {
        console.warn("live sections not refreshed after reconnecting:", error);
      });
  }

  document.addEventListener("htmx:wsOpen", function (event) {
    var root = event.target;
    if (opened.has(root)) resync(root);
    else opened.add(root);
  });
})();
