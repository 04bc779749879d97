/*
 * PeregrineLive: the few pieces the live pages (dashboard, portfolio) share.
 *
 * connect(path, {onEvent, onReconnect}) opens a websocket to `path` on this host (ws:// or
 * wss:// as the page) and calls onEvent(event) for every JSON message that has a `kind` (the
 * runtime's events, see trading/events.py); other messages and bad JSON are ignored. A socket
 * that closes is reopened after a random delay up to min(30 s, 2^attempt s) (full jitter, so
 * many pages do not reconnect at once), the attempt count reset once one opens; every open
 * after the first calls onReconnect(), since events sent while the socket was down are gone
 * and the page must catch up. Returns {close()} to stop for good.
 *
 * refresh(ids) fetches a fresh copy of the page (its URL, so ?sort= and the like are kept) and
 * replaces the elements with these ids by theirs (htmx attributes in them processed); resolves
 * when done, failures logged, never rejected.
 *
 * coalesce(action) runs `action` (which returns a promise) at once, and while it runs, any
 * further calls make it run once more when it ends: a burst of events costs two runs, and the
 * last state is always shown.
 */
(function () {
  "use strict";

  function backoff(attempt) {
    return Math.random() * Math.min(30000, 1000 * Math.pow(2, attempt));
  }

  function connect(path, handlers) {
    var onEvent = handlers.onEvent || function () {};
    var onReconnect = handlers.onReconnect || function () {};
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + path;
    var attempt = 0, opened = false, stopped = false, socket = null;
    function open() {
      if (stopped) return;
      socket = new WebSocket(url);
      socket.onopen = function () {
        if (opened) onReconnect();
        opened = true;
        attempt = 0;
      };
      socket.onmessage = function (message) {
        var event;
        try { event = JSON.parse(message.data); } catch (e) { return; }
        if (event && event.kind) onEvent(event);
      };
      socket.onclose = function () {
        if (!stopped) window.setTimeout(open, backoff(attempt++));
      };
    }
    open();
    return {
      close: function () {
        stopped = true;
        if (socket) socket.close();
      },
    };
  }

  function refresh(ids) {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        ids.forEach(function (id) {
          var fresh = page.getElementById(id), current = document.getElementById(id);
          if (fresh && current) {
            current.innerHTML = fresh.innerHTML;
            if (window.htmx) window.htmx.process(current);
          }
        });
      })
      .catch(function (error) { console.warn("sections not refreshed:", error); });
  }

  function coalesce(action) {
    var running = false, again = false;
    function failed(error) {
      console.warn(error);
      done();
    }
    function run() {
      running = true;
      again = false;
      var result;
      try { result = action(); } catch (error) { failed(error); return; }
      Promise.resolve(result).then(done, failed);
    }
    function done() {
      running = false;
      if (again) run();
    }
    return function () {
      if (running) again = true;
      else run();
    };
  }

  window.PeregrineLive = { connect: connect, refresh: refresh, coalesce: coalesce, backoff: backoff };
})();
