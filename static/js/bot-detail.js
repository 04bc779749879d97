/*
 * A bot's page (templates/trading/bot_detail.html): its market chart and its equity chart.
 *
 *   [data-bot-chart-url]       the JSON of trading:bot-chart (candles, fills, signals,
 *                              indicators, equity, drawdown), fetched on load
 *   [data-bot-chart=market]    charts.js's CandleChart of the bot's market, with the bot's fills
 *                              as buy/sell markers, a signal strategy's signals as dots and its
 *                              indicator lines (over the price, or in a second pane: RSI, MACD)
 *   [data-bot-chart=equity]    equity (top pane) and drawdown from the peak in % (bottom pane)
 *
 * Live, with one mechanism: the bot's socket (htmx ws extension, trading.consumers) swaps in
 * re-rendered sections. After each message this reads the #fills rows and #bot-signals items
 * (their data-* attributes) and adds a marker for each one it has not seen; a new fill also
 * updates the forming bar (as a trade of the market, through charts.js's FormingBar) and reloads
 * the trade history (#bot-trades, from its data-trades-url). A new #equity-curve (a
 * snapshot each minute) refetches the equity. After a reconnect (`peregrine:resync`, from
 * live-resync.js) everything is fetched again.
 *
 * State for tests and curious users: root.dataset.fillMarkers / signalMarkers (counts) and
 * window.PeregrineBotDetail.pages[i].markers (the markers drawn).
 */
(function () {
  "use strict";

  var UP = "#26a69a";
  var DOWN = "#ef5350";
  var LABELLED = 30; // up to this many fills the markers carry their price
  var COLORS = {
    fast: "#1f6feb", slow: "#d9822b", upper: "#8957e5", middle: "#999", lower: "#8957e5",
    rsi: "#8957e5", macd: "#1f6feb", signal: "#d9822b",
  };

  function baseOptions() {
    return {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#555" },
      grid: { vertLines: { color: "#eee" }, horzLines: { color: "#eee" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    };
  }

  /** A fill's marker: buy below the bar, sell above it. */
  function fillMarker(fill, labelled) {
    var buy = fill.side === "buy";
    return {
      time: fill.bar_time, position: buy ? "belowBar" : "aboveBar", color: buy ? UP : DOWN,
      shape: buy ? "arrowUp" : "arrowDown",
      text: labelled ? (buy ? "B " : "S ") + Number(fill.price).toFixed(2) : "",
    };
  }

  /** A signal's marker: a dot, entries under the bar and exits over it. */
  function signalMarker(signal) {
    var entry = signal.kind === "entry";
    return {
      time: signal.bar_time, position: entry ? "belowBar" : "aboveBar", color: "#1f6feb",
      shape: "circle", size: 0.6, // no text: it would sit on the fill's label; the legend says it
    };
  }

  // shared with the backtest page (charts.js, loaded first)
  var percent = window.PeregrineCharts.percent;
  var drawdownRange = window.PeregrineCharts.drawdownRange;

  function BotPage(root) {
    this.root = root;
    this.fills = {}; // id -> fill marker data
    this.signals = {};
    this.markers = [];
    this.step = 60;
    this.candleChart = null;
    this.equityChart = null;
    this.seen = {};
    this.load();
  }

  BotPage.prototype.load = function () {
    var self = this;
    return fetch(this.root.dataset.botChartUrl, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (payload) { self.draw(payload); })
      .catch(function (error) { console.warn("bot chart not loaded:", error); });
  };

  BotPage.prototype.draw = function (payload) {
    this.step = payload.timeframe_seconds;
    this.drawMarket(payload);
    this.drawEquity(payload);
    this.root.dataset.candlesLoaded = String(payload.candles.length);
  };

  BotPage.prototype.drawMarket = function (payload) {
    var el = this.root.querySelector("[data-bot-chart=market]");
    if (!el) return;
    var hasPane = Object.keys(payload.indicators).some(function (n) { return payload.indicators[n].pane; });
    el.classList.toggle("has-pane", hasPane);
    el.classList.toggle("is-empty", !payload.candles.length);
    var legend = this.root.querySelector("[data-bot-chart-legend] small");
    if (legend) { // as first rendered (a reload after a reconnect draws again)
      if (legend.dataset.text === undefined) legend.dataset.text = legend.textContent;
      legend.textContent = legend.dataset.text;
    }
    if (this.candleChart) this.candleChart.chart.remove();
    this.candleChart = new window.PeregrineCharts.CandleChart(el, { pricePlaces: payload.price_places });
    this.candleChart.setData(payload);
    // room right of the last bar, so the newest fills' markers and labels stay readable
    this.candleChart.chart.timeScale().applyOptions({ rightOffset: 6 });
    this.candleChart.chart.timeScale().fitContent();
    this.drawIndicators(payload.indicators);
    if (legend && !payload.candles.length) { // the note under the collapsed chart says why
      legend.textContent = "No 1m candles stored for " + payload.symbol + " on " + payload.exchange +
        " yet: the chart is drawn once they are collected. The bot's fills are listed below.";
    }
    this.markerApi = window.LightweightCharts.createSeriesMarkers(this.candleChart.candles, []);
    this.fills = {};
    this.signals = {};
    var self = this;
    payload.fills.forEach(function (f) { self.fills[f.id] = f; });
    payload.signals.forEach(function (s) { self.signals[s.id] = s; });
    this.symbol = payload.symbol;
    this.exchange = payload.exchange;
    this.tracksSignals = payload.signal_strategy;
    this.firstBar = payload.candles.length ? payload.candles[0].time : null;
    this.drawMarkers();
    this.scan(); // fills shown in the table but newer than the JSON
  };

  BotPage.prototype.drawIndicators = function (indicators) {
    var LC = window.LightweightCharts;
    var chart = this.candleChart.chart;
    var legend = this.root.querySelector("[data-bot-chart-legend] small");
    var names = Object.keys(indicators);
    names.forEach(function (name) {
      var line = indicators[name];
      var series = name === "histogram"
        ? chart.addSeries(LC.HistogramSeries, { color: "#bbb", priceLineVisible: false, lastValueVisible: false }, line.pane)
        : chart.addSeries(LC.LineSeries, {
          color: COLORS[name] || "#555", lineWidth: name === "middle" ? 1 : 2,
          lineStyle: name === "middle" ? 2 : 0, priceLineVisible: false, title: name,
        }, line.pane);
      series.setData(line.points);
      (line.levels || []).forEach(function (level) {
        series.createPriceLine({ price: level, color: "#999", lineStyle: 2, lineWidth: 1, axisLabelVisible: true });
      });
    });
    // relative heights: they hold whatever size the box has when the chart is drawn
    if (chart.panes().length > 1) chart.panes()[0].setStretchFactor(3);
    if (legend && names.length) {
      legend.textContent = "▲ buy fill · ▼ sell fill · ● signal · lines: " + names.join(", ");
    }
  };

  BotPage.prototype.drawMarkers = function () {
    var self = this;
    var fills = Object.keys(this.fills).map(function (id) { return self.fills[id]; });
    var labelled = fills.length <= LABELLED;
    var markers = fills.map(function (f) { return fillMarker(f, labelled); });
    Object.keys(this.signals).forEach(function (id) { markers.push(signalMarker(self.signals[id])); });
    markers.sort(function (a, b) { return a.time - b.time; }); // the library wants time order
    this.markers = markers;
    if (this.markerApi) this.markerApi.setMarkers(markers);
    this.root.dataset.fillMarkers = String(fills.length);
    this.root.dataset.signalMarkers = String(Object.keys(this.signals).length);
  };

  BotPage.prototype.drawEquity = function (payload) {
    var el = this.root.querySelector("[data-bot-chart=equity]");
    if (!el) return;
    el.classList.toggle("is-empty", payload.equity.length < 2); // the note under it says why
    var LC = window.LightweightCharts;
    if (!this.equityChart) {
      var chart = LC.createChart(el, baseOptions());
      this.equityChart = {
        chart: chart,
        equity: chart.addSeries(LC.AreaSeries, {
          lineColor: "#1f6feb", topColor: "#1f6feb44", bottomColor: "#1f6feb05", lineWidth: 2, title: "equity",
        }),
        drawdown: chart.addSeries(LC.AreaSeries, {
          lineColor: DOWN, topColor: DOWN + "05", bottomColor: DOWN + "55", lineWidth: 1,
          invertFilledArea: true, title: "drawdown %",
          priceFormat: { type: "custom", formatter: percent },
          autoscaleInfoProvider: drawdownRange,
        }, 1),
      };
      chart.panes()[0].setStretchFactor(3);
    }
    this.equityChart.equity.setData(payload.equity);
    this.equityChart.drawdown.setData(payload.drawdown);
    this.equityChart.chart.timeScale().fitContent();
    this.root.dataset.equityPoints = String(payload.equity.length);
  };

  BotPage.prototype.reloadEquity = function () {
    var self = this;
    fetch(this.root.dataset.botChartUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (payload) { self.drawEquity(payload); })
      .catch(function (error) { console.warn("equity not reloaded:", error); });
  };

  /** Read the fill rows and signal items the socket swapped in; draw the ones not seen. */
  BotPage.prototype.scan = function () {
    if (!this.candleChart) return;
    var self = this;
    var step = this.step;
    var onChart = function (d) {
      var time = Number(d.time);
      return d.symbol === self.symbol && (self.firstBar === null || time >= self.firstBar);
    };
    var fills = [];
    document.querySelectorAll("#fills tr[data-fill-id]").forEach(function (tr) {
      var d = tr.dataset;
      if (self.fills[d.fillId] || d.exchange !== self.exchange || !onChart(d)) return;
      var time = Number(d.time);
      var fill = { id: Number(d.fillId), time: time, bar_time: time - (time % step), side: d.side,
        price: d.price, qty: d.qty };
      self.fills[d.fillId] = fill;
      fills.push(fill);
    });
    var signals = 0;
    if (this.tracksSignals) {
      document.querySelectorAll("#bot-signals li[data-signal-id]").forEach(function (li) {
        var d = li.dataset;
        if (self.signals[d.signalId] || (d.symbol && !onChart(d))) return;
        var time = Number(d.time);
        self.signals[d.signalId] = { id: Number(d.signalId), time: time,
          bar_time: time - (time % step), kind: d.kind };
        signals += 1;
      });
    }
    if (!fills.length && !signals) return;
    fills.sort(function (a, b) { return a.time - b.time; });
    // the forming bar follows the bot's own fills (trades of the market it saw)
    this.candleChart.onTrades(fills.map(function (f) {
      return { ts: f.time * 1000, price: Number(f.price), amount: Number(f.qty) };
    }));
    this.drawMarkers();
    if (fills.length) this.reloadTrades();
  };

  /** Fetch the trade history again (its realized PnL is FIFO over all fills: the server's). A
   * fill arriving while a fetch is under way fetches once more after it. */
  BotPage.prototype.reloadTrades = function () {
    var self = this;
    var section = document.getElementById("bot-trades");
    if (!section || !section.dataset.tradesUrl) return;
    if (this.tradesLoading) { this.tradesPending = true; return; }
    this.tradesLoading = true;
    fetch(section.dataset.tradesUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var current = document.getElementById("bot-trades");
        if (current) htmx.swap(current, html, { swapStyle: "outerHTML" });
      })
      .catch(function (error) { console.warn("trade history not reloaded:", error); })
      .finally(function () {
        self.tradesLoading = false;
        if (self.tradesPending) { self.tradesPending = false; self.reloadTrades(); }
      });
  };

  /** After each socket message: new fills or signals, a new equity point. */
  BotPage.prototype.onMessage = function () {
    var fills = document.getElementById("fills");
    var signals = document.getElementById("bot-signals");
    var equity = document.getElementById("equity-curve");
    if (fills !== this.seen.fills || signals !== this.seen.signals) this.scan();
    if (this.seen.equity && equity !== this.seen.equity) this.reloadEquity();
    this.seen = { fills: fills, signals: signals, equity: equity };
  };

  var pages = [];

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.LightweightCharts || !window.PeregrineCharts) return;
    document.querySelectorAll("[data-bot-chart-url]").forEach(function (root) {
      var page = new BotPage(root);
      page.onMessage(); // remember the sections as first rendered
      root.peregrineBot = page;
      pages.push(page);
    });
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    pages.forEach(function (page) { page.onMessage(); });
  });
  document.addEventListener("peregrine:resync", function () {
    pages.forEach(function (page) { page.load(); });
  });

  window.PeregrineBotDetail = { BotPage: BotPage, pages: pages, fillMarker: fillMarker };
})();
