/*
 * A tax export a worker writes, live.
 *
 * A websocket (PeregrineLive.connect, static/js/live.js) to the page's <data-socket>
 * (compliance/consumers.py): the server sends {"kind": "tax_export", "html": "<div
 * id=tax-export-status>...</div>"} on connect (the state as it is) and whenever the worker
 * reports progress (rows written, at most twice a second) or ends; the fragment replaces the
 * one on the page, with the download button once the file is ready. Nothing is polled. After a
 * reconnect the section is refreshed from a fresh copy of the page. The socket closes for good
 * once the export is done or failed.
 */
(function () {
  "use strict";

  function start() {
    var live = document.getElementById("tax-export-live");
    if (!live || !live.dataset.socket || !window.PeregrineLive) return;
    var socket = window.PeregrineLive.connect(live.dataset.socket, {
      onEvent: function (event) {
        if (event.kind !== "tax_export" || !event.html) return;
        var current = document.getElementById("tax-export-status");
        if (!current) return;
        window.htmx.swap(current, event.html, { swapStyle: "outerHTML" });
        if (event.status === "done" || event.status === "failed") socket.close();
      },
      onReconnect: function () { window.PeregrineLive.refresh(["tax-export-live"]); },
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
