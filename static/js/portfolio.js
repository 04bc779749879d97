/*
 * The portfolio page: value over time (total and one line per bot), cash vs crypto allocation,
 * and live refresh.
 *
 * Charts: lightweight-charts (v5, vendored) from GET <data-url>?range=1d|1w|all&asset=<asset>,
 * {total, cash, crypto: [{time, value}], bots: [{id, name, points}]} (time in Unix seconds),
 * bounded server-side. The allocation chart is stacked: the crypto area is drawn at cash + crypto
 * (its top edge is the total) and the cash area over it, so the band between them is crypto.
 *
 * Live: the same mechanism as the dashboard (static/js/live.js). A websocket to <data-socket>
 * (the user's event stream, group user.<id>, see trading/events.py); a bot's minute snapshot
 * ("equity") or a fill reloads the charts and replaces the page's sections by their version in
 * a fresh copy of the page (its URL keeps the chosen ?sort=): at once, and once more for
 * whatever arrived during a refresh, so a burst of events costs two fetches. The socket
 * reconnects with jittered backoff and catches up the same way after a reconnect.
 */
(function () {
  "use strict";

  var PALETTE = ["#8250df", "#1a7f37", "#bf3989", "#9a6700", "#0969da", "#cf222e", "#57606a"];
  var SECTIONS = ["portfolio-totals", "portfolio-comparison", "portfolio-fees", "portfolio-paper",
    "portfolio-balances"];
  var REFRESHED_BY = { equity: 1, fill: 1, status: 1 };

  function chartOptions() {
    return {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#555" },
      grid: { vertLines: { color: "#eee" }, horzLines: { color: "#eee" } },
      rightPriceScale: { borderVisible: false },
      timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false },
      localization: {
        priceFormatter: function (p) {
          return p.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
        },
      },
    };
  }

  /* [{time, value}] + [{time, value}] on the same times (the server sends aligned series). */
  function stacked(lower, upper) {
    return lower.map(function (point, i) {
      return { time: point.time, value: point.value + (upper[i] ? upper[i].value : 0) };
    });
  }

  /* A series' autoscale range stretched down to 0. */
  function fromZero(original) {
    var range = original();
    if (range && range.priceRange) range.priceRange.minValue = Math.min(0, range.priceRange.minValue);
    return range;
  }

  function ValueCharts(valueEl, allocationEl, legend, empty) {
    var LC = window.LightweightCharts;
    this.url = valueEl.dataset.url;
    this.asset = valueEl.dataset.asset || "USDT";
    this.legend = legend;
    this.empty = empty;
    this.valueEl = valueEl;
    this.allocationEl = allocationEl;
    // The total in value on the right axis; each bot on the left axis in percent of its first
    // point in the range (one value axis for all would flatten every line: a 5,000 bot next to
    // a 25,000 total moves by a pixel).
    var valueOptions = chartOptions();
    valueOptions.leftPriceScale = {
      visible: true, borderVisible: false, mode: LC.PriceScaleMode.Percentage,
    };
    this.value = LC.createChart(valueEl, valueOptions);
    this.total = this.value.addSeries(LC.AreaSeries, {
      lineColor: "#1f6feb", topColor: "rgba(31,111,235,0.25)", bottomColor: "rgba(31,111,235,0.02)",
      lineWidth: 2, priceLineVisible: false, title: "Total",
    });
    this.botLines = {};
    this.allocation = LC.createChart(allocationEl, chartOptions());
    // stacked areas read as shares only from a zero baseline: the axis always includes 0
    this.crypto = this.allocation.addSeries(LC.AreaSeries, {
      lineColor: "#f0883e", topColor: "rgba(240,136,62,0.85)", bottomColor: "rgba(240,136,62,0.85)",
      lineWidth: 1, priceLineVisible: false, lastValueVisible: false,
      autoscaleInfoProvider: fromZero,
    });
    this.cash = this.allocation.addSeries(LC.AreaSeries, {
      lineColor: "#1f6feb", topColor: "rgba(31,111,235,0.9)", bottomColor: "rgba(31,111,235,0.9)",
      lineWidth: 1, priceLineVisible: false, lastValueVisible: false,
      autoscaleInfoProvider: fromZero,
    });
    this.range = "1d";
  }

  ValueCharts.prototype.botLine = function (bot, index) {
    var line = this.botLines[bot.id];
    if (!line) {
      line = this.botLines[bot.id] = this.value.addSeries(window.LightweightCharts.LineSeries, {
        color: PALETTE[index % PALETTE.length], lineWidth: 2, priceLineVisible: false,
        lastValueVisible: false, priceScaleId: "left",
      });
    }
    return line;
  };

  ValueCharts.prototype.draw = function (data) {
    var self = this;
    this.total.setData(data.total);
    var seen = {};
    this.legend.textContent = "";
    var swatch = function (color, label) {
      var span = document.createElement("span");
      span.className = "swatch";
      span.style.background = color;
      self.legend.append(span, " " + label + " ");
    };
    if (data.total.length) swatch("#1f6feb", "total (" + this.asset + ", right axis)");
    data.bots.forEach(function (bot, index) {
      seen[bot.id] = true;
      self.botLine(bot, index).setData(bot.points);
      swatch(PALETTE[index % PALETTE.length], bot.name);
    });
    if (data.bots.length) {
      self.legend.append(document.createTextNode("· bots in % change since the range's start, left axis"));
    }
    Object.keys(this.botLines).forEach(function (id) {
      if (!seen[id]) { self.value.removeSeries(self.botLines[id]); delete self.botLines[id]; }
    });
    this.cash.setData(data.cash);
    this.crypto.setData(stacked(data.cash, data.crypto));
    this.value.timeScale().fitContent();
    this.allocation.timeScale().fitContent();
    var none = data.total.length === 0;
    if (this.empty) this.empty.hidden = !none;
    this.valueEl.classList.toggle("is-empty", none);
    this.allocationEl.classList.toggle("is-empty", none);
    this.valueEl.dataset.points = String(data.total.length);
    this.valueEl.dataset.bots = String(data.bots.length);
  };

  ValueCharts.prototype.load = function () {
    var self = this;
    var url = this.url + "?range=" + encodeURIComponent(this.range) +
      "&asset=" + encodeURIComponent(this.asset);
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { self.draw(data); })
      .catch(function (error) { console.warn("portfolio charts not loaded:", error); });
  };

  function bindRanges(charts) {
    var buttons = document.querySelectorAll(".portfolio-charts [data-range]");
    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        charts.range = button.dataset.range;
        buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
        charts.load();
      });
    });
  }

  function start() {
    var valueEl = document.getElementById("portfolio-value-chart");
    var charts = null;
    if (valueEl && window.LightweightCharts) {
      charts = new ValueCharts(valueEl, document.getElementById("portfolio-allocation-chart"),
        document.getElementById("portfolio-value-legend"),
        document.getElementById("portfolio-chart-empty"));
      bindRanges(charts);
      charts.load();
    }
    var socketHolder = document.querySelector("[data-socket]");
    if (!socketHolder) return;
    var live = window.PeregrineLive;
    var soon = live.coalesce(function () {
      return Promise.all([live.refresh(SECTIONS), charts ? charts.load() : null]).then(function () {
        document.body.dataset.portfolioRefreshed = String(Date.now());
      });
    });
    live.connect(socketHolder.dataset.socket, {
      onEvent: function (event) { if (REFRESHED_BY[event.kind]) soon(); },
      onReconnect: soon,
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.PeregrinePortfolio = { stacked: stacked, fromZero: fromZero };
})();
