/*
 * The dashboard's equity chart and live event feed.
 *
 * Chart: lightweight-charts (v5, vendored) draws the user's total equity as an area series from
 * GET <data-url>?range=1d|1w|all&asset=<data-asset> ([{time, value}], time in Unix seconds). The
 * range buttons reload it; a bot's minute snapshot ("equity" event) reloads it a moment later,
 * together with the totals, alerts, exposure and bots sections (from a fresh copy of the page),
 * which a status, risk, error or kill-switch event refreshes as well: at once, and once more
 * for whatever arrived meanwhile (PeregrineLive.coalesce).
 *
 * Feed: a websocket to <data-socket> (the user's event stream, group user.<id>, to which the
 * trading runtime publishes every order, fill, risk, error, kill-switch and status event as JSON:
 * see trading/events.py). Each event becomes one line "time bot what happened", newest on top,
 * at most <data-length> lines. The socket (PeregrineLive.connect, static/js/live.js) reconnects
 * with jittered backoff; after a reconnect the feed is refreshed from a fresh copy of the page,
 * since events sent while it was down are gone.
 */
(function () {
  "use strict";

  var botNames = {};

  function text(value) {
    return value === undefined || value === null ? "" : String(value);
  }

  // "0.0100" -> "0.01"; exact decimal strings are kept as written apart from trailing zeros.
  function num(value) {
    var s = text(value);
    return s.indexOf(".") >= 0 ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
  }

  function botName(id) {
    return botNames[id] || "bot #" + id;
  }

  function fillText(f) {
    return (f.side === "buy" ? "Bought " : "Sold ") + num(f.qty) + " " + f.symbol + " at " +
      num(f.price) + " on " + f.exchange;
  }

  function orderText(o) {
    var price = o.price ? " at " + num(o.price) : "";
    return "Order " + o.side + " " + num(o.qty) + " " + o.symbol + price + ": " +
      text(o.status).replace(/_/g, " ");
  }

  function ordersText(orders) {
    if (orders.length === 1) return orderText(orders[0]);
    var counts = {};
    orders.forEach(function (o) { counts[o.status] = (counts[o.status] || 0) + 1; });
    return orders.length + " orders: " + Object.keys(counts).map(function (status) {
      return counts[status] + " " + status.replace(/_/g, " ");
    }).join(", ");
  }

  /* The human-readable lines for one runtime event ([] for kinds the feed does not show). */
  function describe(event) {
    var d = event.data || {};
    switch (event.kind) {
      case "fill": return (d.fills || []).map(fillText);
      case "order": return d.orders && d.orders.length ? [ordersText(d.orders)] : [];
      case "status":
        return ["Status " + (d.previous || "?") + " \u2192 " + d.status + (d.reason ? ": " + d.reason : "")];
      case "risk": return ["Risk limit " + text(d.rule) + ": " + text(d.message) + (d.action ? " (" + d.action + ")" : "")];
      case "error": return ["Error: " + text(d.message)];
      case "kill_switch": return ["Kill switch (" + text(d.scope) + "): " + text(d.reason)];
      case "reconcile":
        return ["Reconciled: " + text(d.adopted || 0) + " adopted, " + text(d.resolved || 0) +
          " resolved, " + text(d.fills_booked || 0) + " fills booked, " + text(d.lost || 0) + " lost"];
      default: return [];
    }
  }

  function clock(iso) {
    var at = iso ? new Date(iso) : new Date();
    return at.toISOString().substring(11, 19);
  }

  function addLines(list, event, limit) {
    var lines = describe(event);
    if (!lines.length) return;
    var waiting = list.querySelector(".dashboard-feed-waiting");
    if (waiting) waiting.remove();
    lines.forEach(function (line) {
      var li = document.createElement("li");
      li.className = "feed-" + event.kind + " feed-new";
      var time = document.createElement("time");
      time.dateTime = event.at || "";
      time.textContent = clock(event.at);
      var bot = document.createElement("strong");
      bot.textContent = botName(event.bot_id);
      li.append(time, " ", bot, " ", line);
      list.prepend(li);
    });
    while (list.children.length > limit) list.lastElementChild.remove();
  }

  function updateStatus(event) {
    if (event.kind !== "status" || !event.data) return;
    var badge = document.querySelector('[data-bot-status="' + event.bot_id + '"]');
    if (!badge) return;
    var status = text(event.data.status);
    badge.className = "badge status-" + status;
    badge.textContent = status.charAt(0).toUpperCase() + status.slice(1);
  }

  var SECTIONS = ["dashboard-alerts", "dashboard-totals", "dashboard-exposure", "dashboard-bots"];
  var REFRESHED_BY = { equity: 1, status: 1, risk: 1, error: 1, kill_switch: 1 };

  function refreshFeed(list) {
    return window.PeregrineLive.refresh([list.id].concat(SECTIONS));
  }

  function connectFeed(section, onEvent) {
    var list = section.querySelector("ul");
    var limit = parseInt(section.dataset.length, 10) || 50;
    window.PeregrineLive.connect(section.dataset.socket, {
      onEvent: function (event) {
        addLines(list, event, limit);
        updateStatus(event);
        onEvent(event);
      },
      onReconnect: function () { refreshFeed(list); },
    });
  }

  function equityChart(container) {
    var chart = LightweightCharts.createChart(container, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#555" },
      grid: { vertLines: { color: "#eee" }, horzLines: { color: "#eee" } },
      rightPriceScale: { borderVisible: false },
      timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false },
      localization: { priceFormatter: function (p) { return p.toFixed(2); } },
    });
    var series = chart.addSeries(LightweightCharts.AreaSeries, {
      lineColor: "#1f6feb", topColor: "rgba(31,111,235,0.35)", bottomColor: "rgba(31,111,235,0.02)",
      lineWidth: 2, priceLineVisible: false,
    });
    var empty = document.getElementById("equity-chart-empty");
    var range = "1d";

    function load() {
      var url = container.dataset.url + "?range=" + encodeURIComponent(range) +
        "&asset=" + encodeURIComponent(container.dataset.asset || "USDT");
      return fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (points) {
          series.setData(points);
          chart.timeScale().fitContent();
          if (empty) empty.hidden = points.length > 0;
          container.classList.toggle("is-empty", points.length === 0);
        })
        .catch(function (error) { console.warn("equity chart not loaded:", error); });
    }

    document.querySelectorAll(".dashboard-ranges [data-range]").forEach(function (button) {
      button.addEventListener("click", function () {
        range = button.dataset.range;
        document.querySelectorAll(".dashboard-ranges [data-range]").forEach(function (b) {
          b.setAttribute("aria-pressed", String(b === button));
        });
        load();
      });
    });
    load();
    return { soon: window.PeregrineLive.coalesce(load) };
  }

  function start() {
    var names = document.getElementById("dashboard-bot-names");
    if (names) botNames = JSON.parse(names.textContent);
    var container = document.getElementById("equity-chart");
    var chart = container && window.LightweightCharts ? equityChart(container) : null;
    var feed = document.getElementById("dashboard-feed");
    var sectionsSoon = window.PeregrineLive.coalesce(function () {
      return window.PeregrineLive.refresh(SECTIONS);
    });
    if (feed) {
      connectFeed(feed, function (event) {
        if (event.kind === "equity" && chart) chart.soon();
        if (REFRESHED_BY[event.kind]) sectionsSoon();
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.PeregrineDashboard = { describe: describe };
})();
