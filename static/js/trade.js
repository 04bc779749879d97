/*
 * The trading panel of an exchange account, live.
 *
 * A websocket (PeregrineLive.connect, static/js/live.js) to the panel's <data-socket>
 * (exchanges/consumers.py): when the account's orders by hand change (placed, cancelled or
 * filled, here, through the API or on the exchange), the server sends
 * {"kind": "trade_state", "html": "<div id=trade-state>...</div>"}, the state section (balances,
 * open orders with their Cancel buttons, recent fills) rendered afresh, which replaces the one
 * on the page (htmx processes it, so Cancel keeps working). Nothing is polled. After a
 * reconnect the section is refreshed once from a fresh copy of the page, since events sent
 * while the socket was down are gone.
 */
(function () {
  "use strict";

  function start() {
    var live = document.getElementById("trade-live");
    if (!live || !live.dataset.socket || !window.PeregrineLive) return;
    window.PeregrineLive.connect(live.dataset.socket, {
      onEvent: function (event) {
        if (event.kind !== "trade_state" || !event.html) return;
        var current = document.getElementById("trade-state");
        if (!current) return;
        window.htmx.swap(current, event.html, { swapStyle: "outerHTML" });
      },
      onReconnect: function () { window.PeregrineLive.refresh(["trade-live"]); },
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
