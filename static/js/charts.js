/*
 * Peregrine's market charts: glue between lightweight-charts (v5, vendored), our candles JSON
 * and the market websocket (marketdata.consumers).
 *
 * A page opts in with an element `[data-candles-url][data-socket-path]` (templates/marketdata/
 * market_detail.html); inside it `[data-chart=candles]` gets a candlestick chart with a volume
 * histogram, `[data-chart=depth]` a depth chart (price on the horizontal scale), `[data-ladder]`
 * the order-book ladder, `[data-trades]` the recent trades and `[data-ticker=...]` the ticker.
 *
 * Messages on the socket are the collectors' own ({"type": "book" | "ticker" | "trades" |
 * "candle", ...}, see marketdata/publish.py). The forming bar of the chosen timeframe is the
 * closed 1m bars of its bucket (from the JSON, then from "candle" messages) merged with the
 * trades of the minute still open; `series.update` redraws only that bar. The socket reconnects
 * with jittered exponential backoff and, once back, reloads the candles so nothing is missed.
 *
 * The pure parts (`FormingBar`, `ladderLevels`, `depthPoints`) are exposed on
 * `window.PeregrineCharts` so tests can drive them without a socket.
 */
(function () {
  "use strict";

  var UP = "#26a69a";
  var DOWN = "#ef5350";
  var MAX_TRADES = 50;

  // -- pure helpers ------------------------------------------------------------------------

  /** A percentage for a price scale (drawdowns); never "-0.00%". */
  function percent(value) {
    return (Math.abs(value) < 0.005 ? 0 : value).toFixed(2) + "%";
  }

  /** A drawdown scale (autoscaleInfoProvider): 0 at the top, at least 1% deep (a flat 0 is
   *  not centred). */
  function drawdownRange(original) {
    var range = original();
    if (range && range.priceRange) {
      range.priceRange.maxValue = 0;
      range.priceRange.minValue = Math.min(range.priceRange.minValue, -1);
    }
    return range;
  }

  /** The open time (UTC seconds) of the bar of `step` seconds containing `seconds`. */
  function bucket(seconds, step) {
    return seconds - (seconds % step);
  }

  /** Merge bar `b` (later) into bar `a` (same bucket); returns a new bar at `a`'s time. */
  function merge(a, b) {
    return {
      time: a.time,
      open: a.open,
      high: Math.max(a.high, b.high),
      low: Math.min(a.low, b.low),
      close: b.close,
      volume: a.volume + b.volume,
    };
  }

  /**
   * The forming bar of a timeframe of `step` seconds.
   *
   * `base` is the latest bar made of closed minutes; `minute` is the bar of the minute still
   * open, built from trades. `candle(m)` takes a closed 1m bar, `trade(t)` one trade; both
   * return the bar to draw (or null when nothing changed).
   */
  function FormingBar(step, last) {
    this.step = step;
    this.base = last || null;
    this.minute = null;
    this.closedMinute = -Infinity;
  }

  FormingBar.prototype.current = function () {
    var m = this.minute;
    if (!m) return this.base;
    var time = bucket(m.time, this.step);
    var liveBar = { time: time, open: m.open, high: m.high, low: m.low, close: m.close, volume: m.volume };
    if (!this.base || time > this.base.time) return liveBar;
    if (time === this.base.time) return merge(this.base, m);
    return this.base; // a minute older than the chart's last bar: already in it
  };

  /** A closed 1m bar {time (s), open, high, low, close, volume}. */
  FormingBar.prototype.candle = function (m) {
    var time = bucket(m.time, this.step);
    if (m.time <= this.closedMinute || (this.base && time < this.base.time)) return null;
    this.closedMinute = m.time;
    var bar = { time: time, open: m.open, high: m.high, low: m.low, close: m.close, volume: m.volume };
    if (!this.base || time > this.base.time) this.base = bar;
    else if (this.step === 60) this.base = bar; // a 1m chart: the closed bar is the bar
    else this.base = merge(this.base, bar);
    if (this.minute && this.minute.time <= m.time) this.minute = null;
    return this.current();
  };

  /** One trade {ts (ms), price, amount}. */
  FormingBar.prototype.trade = function (t) {
    var time = bucket(Math.floor(t.ts / 1000), 60);
    if (time <= this.closedMinute) return null; // late for a bar that already closed
    var m = this.minute;
    if (!m || time > m.time) {
      this.minute = { time: time, open: t.price, high: t.price, low: t.price, close: t.price, volume: t.amount };
    } else if (time === m.time) {
      m.high = Math.max(m.high, t.price);
      m.low = Math.min(m.low, t.price);
      m.close = t.price;
      m.volume += t.amount;
    } else {
      return null;
    }
    var bar = this.current();
    return this.base && bar.time < this.base.time ? null : bar;
  };

  /** Book side [[price, size], ...] best first -> [{price, size, total}] with running totals. */
  function ladderLevels(side, depth) {
    var total = 0;
    return (side || []).slice(0, depth || 20).map(function (level) {
      total += Number(level[1]);
      return { price: Number(level[0]), size: Number(level[1]), total: total };
    });
  }

  /** Depth chart points {time: price, value: cumulative size}, ascending by price. */
  function depthPoints(book) {
    var bids = ladderLevels(book.bids).reverse();
    var asks = ladderLevels(book.asks);
    var point = function (level) { return { time: level.price, value: level.total }; };
    return { bids: bids.map(point), asks: asks.map(point) };
  }

  // -- formatting ----------------------------------------------------------------------------

  function fixed(value, places) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    return Number(value).toLocaleString("en-US", {
      minimumFractionDigits: places, maximumFractionDigits: places,
    });
  }

  function quantity(value, places) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    return Number(Number(value).toFixed(places)).toString();
  }

  function fromJson(candle) {
    return {
      time: candle.time,
      open: parseFloat(candle.open), high: parseFloat(candle.high),
      low: parseFloat(candle.low), close: parseFloat(candle.close),
      volume: parseFloat(candle.volume),
    };
  }

  function volumeOf(bar) {
    return { time: bar.time, value: bar.volume, color: bar.close >= bar.open ? UP + "80" : DOWN + "80" };
  }

  // -- the candlestick chart -----------------------------------------------------------------

  function CandleChart(el, options) {
    var LC = window.LightweightCharts;
    this.places = options.pricePlaces;
    this.chart = LC.createChart(el, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#555" },
      grid: { vertLines: { color: "#eee" }, horzLines: { color: "#eee" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { scaleMargins: { top: 0.1, bottom: 0.25 } },
    });
    var minMove = Math.pow(10, -this.places);
    this.candles = this.chart.addSeries(LC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
      priceFormat: { type: "price", precision: this.places, minMove: minMove },
    });
    this.volume = this.chart.addSeries(LC.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false,
    });
    this.chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.forming = new FormingBar(60, null);
  }

  CandleChart.prototype.setData = function (payload) {
    var bars = payload.candles.map(fromJson);
    this.candles.setData(bars);
    this.volume.setData(bars.map(volumeOf));
    // the minute still open (built from trades) carries over to the new timeframe
    var previous = this.forming;
    this.forming = new FormingBar(payload.timeframe_seconds, bars.length ? bars[bars.length - 1] : null);
    this.forming.closedMinute = previous.closedMinute;
    if (previous.minute && (!bars.length || previous.minute.time >= bars[bars.length - 1].time)) {
      this.forming.minute = previous.minute;
      this.draw(this.forming.current());
    }
    this.chart.timeScale().fitContent();
    return bars.length;
  };

  CandleChart.prototype.draw = function (bar) {
    if (!bar) return;
    this.candles.update(bar);
    this.volume.update(volumeOf(bar));
  };

  CandleChart.prototype.onCandle = function (message) {
    if (message.timeframe !== "1m") return;
    this.draw(this.forming.candle({
      time: Math.floor(message.ts_ms / 1000), open: message.open, high: message.high,
      low: message.low, close: message.close, volume: message.volume,
    }));
  };

  CandleChart.prototype.onTrades = function (trades) {
    var self = this;
    trades.forEach(function (t) { self.draw(self.forming.trade(t)); });
  };

  // -- the depth chart -----------------------------------------------------------------------

  function DepthChart(el, options) {
    var LC = window.LightweightCharts;
    this.chart = LC.createOptionsChart(el, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#555" },
      grid: { vertLines: { visible: false }, horzLines: { color: "#eee" } },
      localization: { priceFormatter: function (v) { return quantity(v, options.amountPlaces); } },
      handleScroll: false, handleScale: false,
    });
    this.bids = this.chart.addSeries(LC.AreaSeries, {
      lineColor: UP, topColor: UP + "66", bottomColor: UP + "11", lineWidth: 2,
      lineType: 1, lastValueVisible: false, priceLineVisible: false,
    });
    this.asks = this.chart.addSeries(LC.AreaSeries, {
      lineColor: DOWN, topColor: DOWN + "66", bottomColor: DOWN + "11", lineWidth: 2,
      lineType: 1, lastValueVisible: false, priceLineVisible: false,
    });
  }

  DepthChart.prototype.setBook = function (book) {
    var points = depthPoints(book);
    this.bids.setData(points.bids);
    this.asks.setData(points.asks);
    this.chart.timeScale().fitContent();
  };

  // -- the page ------------------------------------------------------------------------------

  function cell(text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    td.className = className === undefined ? "num" : className;
    return td;
  }

  function MarketPage(root) {
    this.root = root;
    this.pricePlaces = Number(root.dataset.pricePlaces || 2);
    this.amountPlaces = Number(root.dataset.amountPlaces || 6);
    this.dayClose = root.dataset.dayClose ? parseFloat(root.dataset.dayClose) : null;
    this.timeframe = root.dataset.timeframe;
    var options = { pricePlaces: this.pricePlaces, amountPlaces: this.amountPlaces };
    var candlesEl = root.querySelector("[data-chart=candles]");
    var depthEl = root.querySelector("[data-chart=depth]");
    this.candleChart = candlesEl ? new CandleChart(candlesEl, options) : null;
    this.depthChart = depthEl ? new DepthChart(depthEl, options) : null;
    this.pendingBook = null;
    this.bindTimeframes();
    this.bookFromLadder();
    this.load(this.timeframe);
    this.connect();
  }

  MarketPage.prototype.load = function (timeframe) {
    var self = this;
    var url = this.root.dataset.candlesUrl + "?timeframe=" + encodeURIComponent(timeframe);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (payload) {
        if (payload.error) throw new Error(payload.error);
        self.timeframe = timeframe;
        var count = self.candleChart ? self.candleChart.setData(payload) : 0;
        self.root.dataset.candlesLoaded = String(count);
      })
      .catch(function (error) { console.warn("candles not loaded:", error); });
  };

  MarketPage.prototype.bindTimeframes = function () {
    var self = this;
    var links = this.root.querySelectorAll("a[data-timeframe]");
    links.forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        links.forEach(function (l) { l.removeAttribute("aria-current"); });
        link.setAttribute("aria-current", "true");
        history.replaceState(null, "", "?timeframe=" + link.dataset.timeframe);
        self.load(link.dataset.timeframe);
      });
    });
  };

  /** The depth chart's first drawing, from the ladder the server rendered. */
  MarketPage.prototype.bookFromLadder = function () {
    var read = function (rows) {
      return Array.prototype.map.call(rows, function (tr) {
        var cells = tr.querySelectorAll("td");
        return [parseFloat(cells[0].textContent.replace(/,/g, "")), parseFloat(cells[1].textContent)];
      });
    };
    var bids = read(this.root.querySelectorAll("[data-side=bids] tr"));
    var asks = read(this.root.querySelectorAll("[data-side=asks] tr")).reverse();
    if (this.depthChart && (bids.length || asks.length)) this.depthChart.setBook({ bids: bids, asks: asks });
  };

  MarketPage.prototype.onBook = function (book) {
    // books arrive many times a second: draw the latest once per frame
    var self = this;
    var pending = this.pendingBook;
    this.pendingBook = book;
    if (pending) return;
    window.requestAnimationFrame(function () {
      var latest = self.pendingBook;
      self.pendingBook = null;
      self.drawLadder(latest);
      if (self.depthChart) self.depthChart.setBook(latest);
    });
  };

  MarketPage.prototype.drawLadder = function (book) {
    var self = this;
    var bids = ladderLevels(book.bids);
    var asks = ladderLevels(book.asks);
    var max = Math.max.apply(null, [0].concat(bids.concat(asks).map(function (l) { return l.total; })));
    var rows = function (levels, kind) {
      return levels.map(function (level) {
        var tr = document.createElement("tr");
        tr.className = kind;
        tr.style.setProperty("--depth", (max ? (level.total / max) * 100 : 0).toFixed(1) + "%");
        tr.appendChild(cell(fixed(level.price, self.pricePlaces), "num " + (kind === "bid" ? "pos" : "neg")));
        tr.appendChild(cell(quantity(level.size, self.amountPlaces)));
        tr.appendChild(cell(quantity(level.total, self.amountPlaces)));
        return tr;
      });
    };
    this.root.querySelector("[data-side=asks]").replaceChildren.apply(
      this.root.querySelector("[data-side=asks]"), rows(asks, "ask").reverse());
    this.root.querySelector("[data-side=bids]").replaceChildren.apply(
      this.root.querySelector("[data-side=bids]"), rows(bids, "bid"));
    var mid = this.root.querySelector("[data-side=mid] td");
    if (mid) {
      var spread = bids.length && asks.length ? asks[0].price - bids[0].price : null;
      mid.textContent = spread === null ? "" : "spread " + fixed(spread, this.pricePlaces);
    }
    // the book is fresher than the last ticker: its best levels are the bid and ask
    if (bids.length && asks.length) this.onTicker({ bid: bids[0].price, ask: asks[0].price });
  };

  MarketPage.prototype.setTicker = function (name, text, className) {
    var el = this.root.querySelector("[data-ticker=" + name + "]");
    if (!el) return;
    el.textContent = text;
    if (className !== undefined) el.className = "num " + className;
  };

  MarketPage.prototype.onTicker = function (ticker) {
    var p = this.pricePlaces;
    if (ticker.last !== null && ticker.last !== undefined) this.onLast(ticker.last);
    this.setTicker("bid", fixed(ticker.bid, p));
    this.setTicker("ask", fixed(ticker.ask, p));
    if (ticker.bid && ticker.ask) {
      var spread = ticker.ask - ticker.bid;
      var bp = (spread / ((ticker.ask + ticker.bid) / 2)) * 10000;
      this.setTicker("spread", fixed(spread, p) + " (" + fixed(bp, 2) + " bp)");
    }
  };

  MarketPage.prototype.onLast = function (last) {
    this.setTicker("last", fixed(last, this.pricePlaces));
    if (this.dayClose) {
      var change = last - this.dayClose;
      var pct = (change / this.dayClose) * 100;
      this.setTicker("change", fixed(change, this.pricePlaces) + " (" + fixed(pct, 2) + "%)",
        change > 0 ? "pos" : change < 0 ? "neg" : "");
    }
  };

  MarketPage.prototype.onTrades = function (trades) {
    var body = this.root.querySelector("[data-trades]");
    if (!body || !trades.length) return;
    var empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    var self = this;
    trades.forEach(function (t) {
      var tr = document.createElement("tr");
      tr.appendChild(cell(new Date(t.ts).toISOString().slice(11, 19), ""));
      tr.appendChild(cell(fixed(t.price, self.pricePlaces), "num " + (t.side === "buy" ? "pos" : "neg")));
      tr.appendChild(cell(quantity(t.amount, self.amountPlaces)));
      tr.appendChild(cell(t.side || "", ""));
      body.insertBefore(tr, body.firstChild);
    });
    while (body.children.length > MAX_TRADES) body.lastChild.remove();
    this.onLast(trades[trades.length - 1].price);
    if (this.candleChart) this.candleChart.onTrades(trades);
  };

  MarketPage.prototype.onMessage = function (message) {
    if (message.type === "book") this.onBook(message);
    else if (message.type === "ticker") this.onTicker(message);
    else if (message.type === "trades") this.onTrades(message.trades || []);
    else if (message.type === "candle" && this.candleChart) this.candleChart.onCandle(message);
  };

  MarketPage.prototype.state = function (text) {
    var badge = this.root.querySelector("[data-live-state]");
    if (badge) badge.textContent = text;
    this.root.dataset.liveState = text;
  };

  /** The market's socket, reopened with jittered exponential backoff (0.5 s .. 15 s). */
  MarketPage.prototype.connect = function () {
    var self = this;
    var attempt = 0;
    var opened = false;
    var open = function () {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + self.root.dataset.socketPath);
      socket.onopen = function () {
        attempt = 0;
        self.state("live");
        if (opened) self.load(self.timeframe); // catch up on the bars closed while away
        opened = true;
      };
      socket.onmessage = function (event) {
        try {
          self.onMessage(JSON.parse(event.data));
        } catch (error) {
          console.warn("market message not shown:", error);
        }
      };
      socket.onclose = function () {
        self.state("reconnecting…");
        var delay = Math.min(15000, 500 * Math.pow(2, attempt++));
        window.setTimeout(open, delay / 2 + Math.random() * (delay / 2));
      };
    };
    open();
  };

  window.PeregrineCharts = {
    percent: percent,
    drawdownRange: drawdownRange,
    FormingBar: FormingBar,
    ladderLevels: ladderLevels,
    depthPoints: depthPoints,
    CandleChart: CandleChart,
    DepthChart: DepthChart,
    MarketPage: MarketPage,
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-candles-url][data-socket-path]").forEach(function (root) {
      root.peregrineMarket = new MarketPage(root);
    });
  });
})();
