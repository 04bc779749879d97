/*
 * Backtest results page (templates/strategies/_backtest_run.html): draws the run's charts with
 * the vendored lightweight-charts v5.
 *
 *   [data-backtest-chart=candles]  candlesticks with every fill as a marker (buy below the bar,
 *                                  sell above it), via LightweightCharts.createSeriesMarkers
 *   [data-backtest-chart=equity]   the strategy's equity against buy-and-hold of the cash
 *   [data-backtest-chart=inventory] the base held at each bar's close (runs on trades/books)
 *   [data-backtest-chart=drawdown] the strategy's drawdown: % below the running peak of the
 *                                  stored (sampled) equity points, 0 at the top
 *
 * They read the JSON the page embeds with json_script (id in data-source): {bars: [[ts_ms, o, h,
 * l, c], ...], markers: [{time: ts_ms, side, price}, ...], equity: [[ts_ms, equity, hold], ...],
 * indicators: {name: {pane, points: [[ts_ms, value], ...], levels?}}} — the strategy's lines,
 * the same as the bot page draws (strategies/indicators.py). The drawdown helpers are
 * charts.js' (window.PeregrineCharts). On the New backtest form it shows the chosen
 * strategy's parameter fields.
 * The results arrive in a partial that HTMX swaps in when the polled run ends, so charts are
 * drawn on page load and after every swap; an element is drawn once (data-drawn).
 */
(function () {
  "use strict";

  var UP = "#26a69a";
  var DOWN = "#ef5350";
  var LABELLED_MARKERS = 30; // up to this many fills the markers carry their price; more is noise
  // the bot page's colours for the same lines (static/js/bot-detail.js)
  var COLORS = {
    fast: "#1f6feb", slow: "#d9822b", upper: "#8957e5", middle: "#999", lower: "#8957e5",
    rsi: "#8957e5", macd: "#1f6feb", signal: "#d9822b",
  };

  /** The strategy's indicator lines: over the price (pane 0) or in a pane below (RSI, MACD),
   *  RSI's thresholds as dashed price lines. Returns the names drawn. */
  function indicators(chart, lines) {
    var LC = window.LightweightCharts;
    var names = Object.keys(lines || {});
    names.forEach(function (name) {
      var line = lines[name];
      var series = name === "histogram"
        ? chart.addSeries(LC.HistogramSeries, { color: "#bbb", priceLineVisible: false, lastValueVisible: false }, line.pane)
        : chart.addSeries(LC.LineSeries, {
          color: COLORS[name] || "#555", lineWidth: name === "middle" ? 1 : 2,
          lineStyle: name === "middle" ? 2 : 0, priceLineVisible: false, lastValueVisible: false,
          title: name,
        }, line.pane);
      series.setData(line.points.map(function (p) { return { time: seconds(p[0]), value: p[1] }; }));
      (line.levels || []).forEach(function (level) {
        series.createPriceLine({ price: level, color: "#999", lineStyle: 2, lineWidth: 1, axisLabelVisible: true });
      });
    });
    if (chart.panes().length > 1) chart.panes()[0].setStretchFactor(3);
    return names;
  }

  function options() {
    return {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#555" },
      grid: { vertLines: { color: "#eee" }, horzLines: { color: "#eee" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    };
  }

  /** Milliseconds since the epoch to the chart's UTC seconds. */
  function seconds(ms) {
    return Math.floor(ms / 1000);
  }

  /** Decimals that show a price's moves: 2 for BTC/USDT, 8 for XRP/ETH (0.0014). */
  function decimals(bars) {
    var low = Math.min.apply(null, bars.map(function (b) { return b[3]; }));
    if (!(low > 0) || low >= 100) return 2;
    return Math.min(8, 2 + Math.max(0, Math.ceil(-Math.log10(low))) + 2);
  }

  function candles(el, data) {
    var LC = window.LightweightCharts;
    var chart = LC.createChart(el, options());
    var digits = decimals(data.bars);
    var series = chart.addSeries(LC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
      priceFormat: { type: "price", precision: digits, minMove: Math.pow(10, -digits) },
    });
    series.setData(data.bars.map(function (b) {
      return { time: seconds(b[0]), open: b[1], high: b[2], low: b[3], close: b[4] };
    }));
    // markers must be in time order; several fills on one (merged) bar each get a marker
    var labelled = data.markers.length <= LABELLED_MARKERS;
    var markers = data.markers.map(function (m) {
      var buy = m.side === "buy";
      return {
        time: seconds(m.time),
        position: buy ? "belowBar" : "aboveBar",
        color: buy ? UP : DOWN,
        shape: buy ? "arrowUp" : "arrowDown",
        text: labelled ? (buy ? "B " : "S ") + Number(m.price).toFixed(digits) : "",
      };
    }).sort(function (a, b) { return a.time - b.time; });
    LC.createSeriesMarkers(series, markers);
    var names = indicators(chart, data.indicators);
    el.dataset.indicators = names.join(",");
    var legend = document.querySelector("[data-backtest-indicators]");
    if (legend && names.length) legend.textContent = "▲ buy · ▼ sell · lines: " + names.join(", ");
    chart.timeScale().fitContent();
    return chart;
  }

  function equity(el, data) {
    var LC = window.LightweightCharts;
    var chart = LC.createChart(el, options());
    var strategy = chart.addSeries(LC.LineSeries, { color: "#1f6feb", lineWidth: 2 });
    var hold = chart.addSeries(LC.LineSeries, { color: "#999", lineWidth: 1, lineStyle: 2 });
    strategy.setData(data.equity.map(function (p) { return { time: seconds(p[0]), value: p[1] }; }));
    hold.setData(data.equity.map(function (p) { return { time: seconds(p[0]), value: p[2] }; }));
    chart.timeScale().fitContent();
    return chart;
  }

  /** Percent below the running peak of the equity points: [{time, value <= 0}, ...]. */
  function drawdownPoints(points) {
    var peak = -Infinity;
    return points.map(function (p) {
      peak = Math.max(peak, p[1]);
      var value = peak > 0 ? (p[1] / peak - 1) * 100 : 0;
      return { time: seconds(p[0]), value: Math.abs(value) < 1e-9 ? 0 : value };
    });
  }

  function drawdown(el, data) {
    var LC = window.LightweightCharts;
    var chart = LC.createChart(el, options());
    var series = chart.addSeries(LC.AreaSeries, {
      lineColor: DOWN, topColor: DOWN + "05", bottomColor: DOWN + "55", lineWidth: 1,
      invertFilledArea: true, title: "drawdown %",
      priceFormat: { type: "custom", formatter: window.PeregrineCharts.percent },
      autoscaleInfoProvider: window.PeregrineCharts.drawdownRange,
    });
    series.setData(drawdownPoints(data.equity));
    chart.timeScale().fitContent();
    return chart;
  }

  /** The compare page: each run's return since its start (%), one line per run. */
  function compare(el, data) {
    var LC = window.LightweightCharts;
    var chart = LC.createChart(el, options());
    data.curves.forEach(function (points, i) {
      var series = chart.addSeries(LC.LineSeries, {
        color: data.colors[i], lineWidth: i === 0 ? 3 : 2, title: data.names[i],
        priceFormat: { type: "custom", formatter: window.PeregrineCharts.percent },
      });
      series.setData(points.map(function (p) { return { time: seconds(p[0]), value: p[1] }; }));
    });
    chart.timeScale().fitContent();
    el.dataset.curves = String(data.curves.length);
    return chart;
  }

  /** The optimization heatmap's cells carry their colour in data-shade (0..1, or empty). */
  function heatmap(root) {
    (root || document).querySelectorAll("[data-shade]:not([data-shaded])").forEach(function (cell) {
      cell.dataset.shaded = "1";
      if (cell.dataset.shade === "") return;
      var t = Number(cell.dataset.shade); // 0 worst .. 1 best: red through pale to green
      var hue = 4 + t * 126;
      cell.style.background = "hsl(" + hue + ", 60%, " + (88 - Math.abs(t - 0.5) * 40) + "%)";
    });
  }

  /** The base held at each bar's close (tick and market-making runs). */
  function inventory(el, data) {
    var LC = window.LightweightCharts;
    var chart = LC.createChart(el, options());
    var series = chart.addSeries(LC.LineSeries, {
      color: "#8250df", lineWidth: 2, lineType: 1, title: "inventory",
    });
    series.setData(data.inventory.map(function (p) { return { time: seconds(p[0]), value: p[1] }; }));
    chart.timeScale().fitContent();
    return chart;
  }

  var DRAW = {
    candles: candles, equity: equity, drawdown: drawdown, compare: compare, inventory: inventory,
  };

  function drawAll(root) {
    if (!window.LightweightCharts) return;
    (root || document).querySelectorAll("[data-backtest-chart]:not([data-drawn])").forEach(function (el) {
      var source = document.getElementById(el.dataset.source);
      if (!source) return;
      el.dataset.drawn = "1";
      try {
        var data = JSON.parse(source.textContent);
        var chart = DRAW[el.dataset.backtestChart](el, data);
        if (chart && data.bars && data.bars.length > 1 && data.bars[1][0] - data.bars[0][0] < 60000) {
          chart.applyOptions({ timeScale: { timeVisible: true, secondsVisible: true } });  // 1s bars
        }
      } catch (error) {
        console.error("backtest chart not drawn:", error);
      }
    });
  }

  /** The New backtest form: show the chosen strategy's parameter fields only. */
  function strategyFields() {
    var select = document.getElementById("id_strategy");
    if (!select) return;
    var show = function () {
      document.querySelectorAll("[data-strategy-params]").forEach(function (set) {
        set.hidden = set.dataset.strategyParams !== select.value;
      });
    };
    select.addEventListener("change", show);
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    strategyFields(); drawAll(document); heatmap(document);
  });
  document.addEventListener("htmx:afterSettle", function () { drawAll(document); heatmap(document); });
  window.PeregrineBacktest = { drawAll: drawAll, drawdownPoints: drawdownPoints };
})();
