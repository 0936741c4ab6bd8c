// harcnn label: the page. Signals drawn by plotly (from min/max per pixel the server computes for the
// visible stretch), the labels and the model's timeline drawn on two canvases aligned with the plot.
// Segment times are kept on the recording's clock (as labels.csv has them); the plot's x axis is in
// seconds since the recording's first sample.
"use strict";

(() => {
  const TOKEN = document.querySelector('meta[name="harcnn-token"]').content;
  const FOLDER_ID = document.querySelector('meta[name="harcnn-folder"]').content;
  const MARGIN = {l: 70, r: 16};
  const AXIS_COLORS = ["#d62728", "#2ca02c", "#1f77b4", "#222222"];
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                   "#9c755f", "#bab0ac", "#a0cbe8", "#ffbe7d", "#8cd17d", "#b6992d", "#86bcb6", "#d37295",
                   "#fabfd2", "#79706e", "#d4a6c8", "#f1ce63"];
  const EDGE_PX = 6;
  const $ = (id) => document.getElementById(id);
  const plotDiv = $("plot"), labelsCanvas = $("labels-row"), predCanvas = $("prediction-row");
  const video = $("video");

  const app = {
    state: null,          // GET /api/state
    recordings: [],       // GET /api/recordings
    labelSet: [],
    active: null,         // the current label
    rec: null,            // GET /api/recording
    segments: [],         // [{start, end, label}], sorted, on the recording's clock
    version: null,        // of the saved segments this page started from
    dirty: false,
    undo: [], redo: [],
    selected: -1,
    cursor: null,         // recording clock
    view: [0, 1],         // seconds since the recording's start
    data: null,           // the signals drawn: {name, a, b, res, raw}
    pred: null,           // GET /api/prediction
    predRuns: [],         // [{start, end, label}] of the model's timeline
    predSel: null,        // [start, end] on the recording's clock
    low: [],              // low-confidence stretches [{start, end}]
    threshold: 0.6,
    offset: 0,            // video time at the recording's first sample
    firstSignalsAt: null, // performance.now() when a recording's signals were first drawn
  };

  // ------------------------------------------------------------------ server
  async function api(path, {method = "GET", body, headers = {}} = {}) {
    const init = {method, headers: {...headers}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET") init.headers["X-Harcnn-Token"] = TOKEN;
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      error.body = data;
      throw error;
    }
    return data;
  }
  const q = (name) => encodeURIComponent(name);

  function status(text, kind = "") {
    const el = $("status");
    el.textContent = text;
    el.className = kind;
  }

  function banner(text, buttons = []) {
    const el = $("banner");
    el.replaceChildren();
    if (!text) { el.hidden = true; return; }
    el.append(text);
    for (const [label, action] of buttons) {
      const b = document.createElement("button");
      b.textContent = label;
      b.onclick = () => { el.hidden = true; action(); };
      el.append(b);
    }
    el.hidden = false;
  }

  function ask(text, buttons) {
    const dialog = $("dialog");
    $("dialog-text").textContent = text;
    const box = $("dialog-buttons");
    box.replaceChildren();
    return new Promise((resolve) => {
      for (const [label, value] of buttons) {
        const b = document.createElement("button");
        b.textContent = label;
        b.onclick = () => { dialog.close(); resolve(value); };
        box.append(b);
      }
      dialog.onclose = () => resolve(null);
      dialog.showModal();
    });
  }

  // ------------------------------------------------------------------ labels and colours
  function colorOf(label) {  // the label set's colours first, then the model's other classes'
    let i = app.labelSet.indexOf(label);
    if (i < 0 && app.pred && app.pred.available) {
      const others = app.pred.classes.filter((c) => !app.labelSet.includes(c));
      i = others.includes(label) ? app.labelSet.length + others.indexOf(label) : -1;
    }
    if (i >= 0) return PALETTE[i % PALETTE.length];
    let h = 0;
    for (const c of label) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  function validLabel(name) {
    return typeof name === "string" && name.trim() === name && name.length > 0 && name.length <= 64 &&
      !/[,;"\u0000-\u001f\u007f]/.test(name);
  }

  async function addLabels(names) {
    const added = names.filter((n) => !app.labelSet.includes(n));
    if (!added.length) return;
    app.labelSet.push(...added);
    renderLabelButtons();
    try {
      const reply = await api("/api/label-set", {method: "PUT", body: {labels: app.labelSet}});
      app.labelSet = reply.label_set.concat(app.labelSet.filter((n) => !reply.label_set.includes(n)));
    } catch (error) {
      status(`label set not saved: ${error.message}`, "error");
    }
    renderLabelButtons();
  }

  async function newLabel() {
    const name = (window.prompt("New label name (no , ; or \")") || "").trim();
    if (!name) return null;
    if (!validLabel(name)) { status(`not a label name: ${name}`, "error"); return null; }
    await addLabels([name]);
    setActive(name);
    return name;
  }

  function setActive(name) {
    app.active = name;
    renderLabelButtons();
  }

  function renderLabelButtons() {
    const box = $("label-buttons");
    box.replaceChildren();
    app.labelSet.forEach((name, i) => {
      const b = document.createElement("button");
      b.style.borderLeftColor = colorOf(name);
      if (i < 9) {
        const k = document.createElement("kbd");
        k.textContent = String(i + 1);
        b.append(k);
      }
      b.append(name);
      b.title = `label ${name}${i < 9 ? ` (key ${i + 1})` : ""}`;
      b.className = name === app.active ? "active" : "";
      b.onclick = () => chooseLabel(name);
      box.append(b);
    });
  }

  function chooseLabel(name) {
    setActive(name);
    if (app.selected >= 0 && app.segments[app.selected].label !== name) {
      edit(() => { app.segments[app.selected].label = name; });
    }
  }

  // ------------------------------------------------------------------ geometry
  const plotWidth = () => Math.max(labelsCanvas.clientWidth - MARGIN.l - MARGIN.r, 10);
  const rel = (t) => t - app.rec.start;
  function xOf(t) {  // recording clock -> pixel
    const [a, b] = app.view;
    return MARGIN.l + (rel(t) - a) / (b - a) * plotWidth();
  }
  function tOf(x) {  // pixel -> recording clock
    const [a, b] = app.view;
    return app.rec.start + a + (x - MARGIN.l) / plotWidth() * (b - a);
  }
  const snap = (t) => Math.round(t * 1000) / 1000;
  const minLength = () => Math.max(2 / app.rec.rate, 0.02);
  const fmt = (s) => {
    const sign = s < 0 ? "-" : "";
    s = Math.abs(s);
    const m = Math.floor(s / 60);
    return `${sign}${m}:${(s - 60 * m).toFixed(2).padStart(5, "0")}`;
  };

  // ------------------------------------------------------------------ the signals (plotly)
  let traceCount = 0;

  function buildPlot() {
    const groups = app.rec.groups;
    const n = groups.length;
    const gap = 0.06;
    const height = (1 - gap * (n - 1)) / n;
    const traces = [];
    const layout = {
      margin: {l: MARGIN.l, r: MARGIN.r, t: 22, b: 26}, height: 40 + 125 * n, dragmode: "zoom",
      hovermode: false, showlegend: true, legend: {orientation: "h", x: 0, y: 1, yanchor: "bottom", font: {size: 11}},
      xaxis: {range: app.view.slice(), autorange: false, zeroline: false, anchor: `y${n > 1 ? n : ""}`,
              title: {text: ""}, ticksuffix: " s", automargin: false},
      paper_bgcolor: "#fafafa", plot_bgcolor: "#fff",
    };
    groups.forEach((group, k) => {
      const axis = k === 0 ? "y" : `y${k + 1}`;
      const top = 1 - k * (height + gap);
      layout[k === 0 ? "yaxis" : `yaxis${k + 1}`] = {
        domain: [Math.max(top - height, 0), top], fixedrange: true, zeroline: false, automargin: false,
        title: {text: `${group.sensor}${group.unit ? ` (${group.unit})` : ""}`, font: {size: 11}, standoff: 4},
      };
      group.channels.forEach((c, j) => {
        traces.push({x: [], y: [], type: "scatter", mode: "lines", name: app.rec.channels[c], xaxis: "x", yaxis: axis,
                     line: {width: 1, color: AXIS_COLORS[j % AXIS_COLORS.length]}});
      });
    });
    traceCount = traces.length;
    const config = {displaylogo: false, scrollZoom: true, responsive: true, doubleClick: false,
                    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "resetScale2d", "toImage"]};
    return Plotly.newPlot(plotDiv, traces, layout, config).then(() => {
      plotDiv.on("plotly_relayout", onRelayout);
      plotDiv.on("plotly_relayouting", onRelayout);
    });
  }

  function onRelayout(event) {
    if (!app.rec) return;
    let a = event["xaxis.range[0]"], b = event["xaxis.range[1]"];
    if (a === undefined && Array.isArray(event["xaxis.range"])) [a, b] = event["xaxis.range"];
    if (a === undefined || b === undefined) return;
    app.view = [Number(a), Number(b)];
    drawRows();
    scheduleFetch();
  }

  function setView(a, b) {
    const duration = app.rec.duration;
    let width = Math.min(Math.max(b - a, 20 / app.rec.rate), duration * 1.05);
    let start = Math.min(Math.max(a, -0.025 * duration), duration * 1.025 - width);
    app.view = [start, start + width];
    drawRows();
    scheduleFetch();
    return Plotly.relayout(plotDiv, {"xaxis.range": app.view.slice(), "xaxis.autorange": false});
  }

  function zoom(factor, around) {
    const [a, b] = app.view;
    const c = around !== undefined ? around : (a + b) / 2;
    return setView(c - (c - a) * factor, c + (b - c) * factor);
  }

  function pan(fraction) {
    const [a, b] = app.view;
    const d = (b - a) * fraction;
    return setView(a + d, b + d);
  }

  let fetchTimer = null, fetchSeq = 0, settleWaiters = [], pending = null;

  function scheduleFetch(delay = 40) {
    clearTimeout(fetchTimer);
    fetchTimer = setTimeout(fetchSignals, delay);
  }

  function settled() {  // resolves once the signals drawn match the view
    return new Promise((resolve) => settleWaiters.push(resolve));
  }

  function settle() {
    const waiters = settleWaiters;
    settleWaiters = [];
    waiters.forEach((w) => w());
  }

  async function fetchSignals() {
    fetchTimer = null;
    const rec = app.rec;
    if (!rec) return;
    const [a, b] = app.view;
    const px = plotWidth();
    const res = (b - a) / px;
    const d = app.data;
    const lo = Math.max(a, 0), hi = Math.min(b, rec.duration);
    if (d && d.name === rec.name && d.a <= lo && d.b >= hi && (d.raw || (d.res <= res * 1.25 && d.res >= res / 2.5))) {
      settle();
      return;
    }
    const w = b - a;
    const fa = Math.max(a - w / 2, 0), fb = Math.min(b + w / 2, rec.duration);
    if (fb <= fa) { settle(); return; }
    const buckets = Math.max(Math.round(px * (fb - fa) / w), 2);
    const path = `/api/signals?name=${q(rec.name)}&start=${rec.start + fa}&end=${rec.start + fb}&buckets=${buckets}`;
    if (pending === path) return;  // already asked for: its answer settles
    pending = path;
    const seq = ++fetchSeq;
    let data;
    try {
      data = await api(path);
    } catch (error) {
      status(`signals: ${error.message}`, "error");
      return;
    } finally {
      if (pending === path) pending = null;
    }
    if (seq !== fetchSeq || app.rec !== rec) return;
    const indices = [...Array(traceCount).keys()];
    await Plotly.restyle(plotDiv, {x: indices.map(() => data.x), y: data.y}, indices);
    if (seq !== fetchSeq || app.rec !== rec) return;
    app.data = {name: rec.name, a: fa, b: fb, res: (fb - fa) / buckets, raw: data.raw};
    if (app.firstSignalsAt === null) {
      app.firstSignalsAt = performance.now();
      performance.mark("harcnn-first-signals");
    }
    if (!fetchTimer) settle();
  }

  // ------------------------------------------------------------------ the rows (canvas)
  function sizeCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight || Number(canvas.getAttribute("height"));
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return [ctx, w, h];
  }

  function rowFrame(ctx, w, h, title, titleY = h / 2) {
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#f3f3f3";
    ctx.fillRect(MARGIN.l, 0, w - MARGIN.l - MARGIN.r, h);
    ctx.fillStyle = "#444";
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    ctx.fillText(title, MARGIN.l - 8, titleY);
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.l, 0, w - MARGIN.l - MARGIN.r, h);
    ctx.clip();
  }

  function segmentBox(ctx, x0, x1, y, h, color, text) {
    ctx.fillStyle = color;
    ctx.fillRect(x0, y, Math.max(x1 - x0, 1), h);
    if (text && x1 - x0 > ctx.measureText(text).width + 6) {
      const [r, g, b] = [1, 3, 5].map((k) => parseInt(color.slice(k, k + 2), 16));
      ctx.fillStyle = 0.299 * r + 0.587 * g + 0.114 * b > 160 ? "#222" : "#fff";
      ctx.textAlign = "center";
      ctx.fillText(text, (Math.max(x0, MARGIN.l) + Math.min(x1, labelsCanvas.clientWidth - MARGIN.r)) / 2, y + h / 2);
    }
  }

  let drag = null;  // the labels row's drag in progress

  function drawLabels() {
    const [ctx, w, h] = sizeCanvas(labelsCanvas);
    rowFrame(ctx, w, h, "labels");
    if (!app.rec) { ctx.restore(); return; }
    const shown = drag && drag.preview ? drag.preview : app.segments;
    ctx.font = "12px system-ui, sans-serif";
    shown.forEach((s, i) => {
      const x0 = xOf(s.start), x1 = xOf(s.end);
      if (x1 < 0 || x0 > w) return;
      segmentBox(ctx, x0, x1, 6, h - 12, colorOf(s.label), s.label);
      if (i === app.selected && !(drag && drag.kind === "create")) {
        ctx.strokeStyle = "#111";
        ctx.lineWidth = 2;
        ctx.strokeRect(x0 + 1, 5, Math.max(x1 - x0 - 2, 1), h - 10);
      }
    });
    if (drag && drag.kind === "create" && drag.span) {
      const x0 = xOf(drag.span[0]), x1 = xOf(drag.span[1]);
      ctx.globalAlpha = 0.6;
      segmentBox(ctx, x0, x1, 6, h - 12, colorOf(drag.label), drag.label);
      ctx.globalAlpha = 1;
    }
    if (app.predSel) {
      ctx.strokeStyle = "#1565c0";
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.strokeRect(xOf(app.predSel[0]), 2, xOf(app.predSel[1]) - xOf(app.predSel[0]), h - 4);
      ctx.setLineDash([]);
    }
    ctx.restore();
  }

  function drawPrediction() {
    const [ctx, w, h] = sizeCanvas(predCanvas);
    rowFrame(ctx, w, h, "model", 14);
    ctx.font = "11px system-ui, sans-serif";
    const pred = app.pred;
    if (!app.rec || !pred || !pred.available) {
      ctx.fillStyle = "#777";
      ctx.textAlign = "left";
      const text = !app.rec ? "" : !pred ? "computing the model's timeline ..." : pred.hint;
      ctx.fillText(text, MARGIN.l + 8, h / 2);
      ctx.restore();
      return;
    }
    const top = 4, band = 20, confTop = top + band + 4, confH = h - confTop - 3;
    ctx.restore();  // the margin: what the lower band shows
    ctx.fillStyle = "#777";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.fillText("confidence", MARGIN.l - 8, confTop + confH / 2 + 2);
    ctx.font = "11px system-ui, sans-serif";
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.l, 0, w - MARGIN.l - MARGIN.r, h);
    ctx.clip();
    for (const s of app.low) {
      const x0 = xOf(s.start), x1 = xOf(s.end);
      if (x1 < 0 || x0 > w) continue;
      ctx.fillStyle = "rgba(229, 57, 53, 0.18)";
      ctx.fillRect(x0, confTop, Math.max(x1 - x0, 2), confH);
    }
    for (const r of app.predRuns) {
      const x0 = xOf(r.start), x1 = xOf(r.end);
      if (x1 < 0 || x0 > w) continue;
      segmentBox(ctx, x0, x1, top, band, colorOf(r.label), r.label);
    }
    const win = pred.windows;
    ctx.strokeStyle = "#37474f";
    ctx.lineWidth = 1;
    ctx.beginPath();
    let open = false;
    for (let i = 0; i < win.start.length; i++) {
      const x0 = xOf(win.start[i]), x1 = xOf(win.end[i]);
      if (x1 < MARGIN.l - 2 || x0 > w) { open = false; continue; }
      const y = confTop + confH * (1 - win.confidence[i]);
      if (open && i > 0 && win.start[i] - win.end[i - 1] < 1e-6) ctx.lineTo(x0, y); else ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
      open = true;
    }
    ctx.stroke();
    const ty = confTop + confH * (1 - app.threshold);
    ctx.strokeStyle = "#e53935";
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(MARGIN.l, ty);
    ctx.lineTo(w - MARGIN.r, ty);
    ctx.stroke();
    ctx.setLineDash([]);
    const sel = (drag && drag.kind === "predsel" && drag.span) || app.predSel;
    if (sel) {
      ctx.fillStyle = "rgba(21, 101, 192, 0.22)";
      ctx.fillRect(xOf(sel[0]), 0, xOf(sel[1]) - xOf(sel[0]), h);
    }
    ctx.restore();
  }

  function drawCursor() {
    const el = $("cursor");
    if (!app.rec || app.cursor === null) { el.hidden = true; return; }
    const x = xOf(app.cursor);
    el.hidden = x < MARGIN.l || x > labelsCanvas.clientWidth - MARGIN.r;
    el.style.left = `${x}px`;
  }

  function drawRows() {
    drawLabels();
    drawPrediction();
    drawCursor();
  }

  function showDetails() {
    const box = $("details");
    box.replaceChildren();
    if (!app.rec) return;
    const line = (text, cls) => {
      const p = document.createElement("div");
      p.textContent = text;
      if (cls) p.className = cls;
      box.append(p);
    };
    const r = app.rec;
    line(`${r.name}: ${fmt(r.duration)} at ${r.rate.toFixed(4).replace(/\.?0+$/, "")} Hz, ${r.sensors.join(" + ")}; ` +
         `${app.segments.length} segments` + (app.cursor !== null ? `; cursor at ${fmt(rel(app.cursor))}` : ""));
    if (app.selected >= 0) {
      const s = app.segments[app.selected];
      line(`selected: ${s.label}, ${fmt(rel(s.start))} - ${fmt(rel(s.end))} (${(s.end - s.start).toFixed(2)} s)`);
    }
    if (app.pred && app.pred.available) {
      line(`model: ${app.pred.model} (${app.pred.smoothing} smoothing); ` +
           `${app.low.length} low-confidence stretches below ${app.threshold}`);
    }
    for (const note of r.notes || []) line(note, "notes");
  }

  // ------------------------------------------------------------------ editing
  const copy = (segments) => segments.map((s) => ({start: s.start, end: s.end, label: s.label}));

  function edit(change) {
    const before = copy(app.segments);
    change();
    app.segments.sort((a, b) => a.start - b.start);
    if (app.selected >= app.segments.length) app.selected = -1;
    app.undo.push(before);
    if (app.undo.length > 500) app.undo.shift();
    app.redo = [];
    changed();
  }

  function changed() {
    app.dirty = true;
    saveDraft();
    updateStatus();
    drawRows();
    showDetails();
  }

  function undoRedo(from, to) {
    if (!from.length) return;
    to.push(copy(app.segments));
    app.segments = from.pop();
    app.selected = -1;
    changed();
  }

  function gapAround(t, except = -1) {  // the free stretch around t: [lo, hi]
    let lo = app.rec.start, hi = app.rec.start + app.rec.duration;
    app.segments.forEach((s, i) => {
      if (i === except) return;
      if (s.end <= t) lo = Math.max(lo, s.end);
      if (s.start >= t) hi = Math.min(hi, s.start);
    });
    return [lo, hi];
  }

  function segmentAt(t) {
    return app.segments.findIndex((s) => s.start <= t && t < s.end);
  }

  function hit(x) {  // {index, edge} under pixel x of the labels row
    let best = null;
    app.segments.forEach((s, i) => {
      for (const edge of ["start", "end"]) {
        const d = Math.abs(xOf(s[edge]) - x);
        if (d <= EDGE_PX && (!best || d < best.d || (d === best.d && ((edge === "start") === (x >= xOf(s[edge]))))))
          best = {index: i, edge, d};
      }
    });
    if (best) return best;
    const i = segmentAt(tOf(x));
    return i >= 0 ? {index: i, edge: null} : null;
  }

  function labelsDown(event) {
    if (!app.rec || event.button !== 0) return;
    const x = event.offsetX;
    const h = hit(x);
    labelsCanvas.setPointerCapture(event.pointerId);
    if (h && h.edge) {
      drag = {kind: "resize", index: h.index, edge: h.edge, x0: x, preview: copy(app.segments)};
      app.selected = h.index;
    } else if (h) {
      drag = {kind: "select", index: h.index, x0: x};
    } else {
      drag = {kind: "create", x0: x, t0: tOf(x), label: app.active || app.labelSet[0] || "label", span: null};
    }
    drawRows();
  }

  function labelsMove(event) {
    if (!app.rec) return;
    const x = event.offsetX;
    if (!drag) {
      const h = hit(x);
      labelsCanvas.style.cursor = h && h.edge ? "ew-resize" : h ? "pointer" : "crosshair";
      return;
    }
    const t = tOf(x);
    if (drag.kind === "resize") {
      const s = drag.preview[drag.index];
      const [lo, hi] = gapAround((s.start + s.end) / 2, drag.index);
      if (drag.edge === "start") s.start = snap(Math.min(Math.max(t, lo), s.end - minLength()));
      else s.end = snap(Math.max(Math.min(t, hi), s.start + minLength()));
    } else if (drag.kind === "create" && Math.abs(x - drag.x0) >= 3) {
      const [lo, hi] = gapAround(drag.t0);
      drag.span = [snap(Math.max(Math.min(drag.t0, t), lo)), snap(Math.min(Math.max(drag.t0, t), hi))];
    }
    drawRows();
  }

  async function labelsUp(event) {
    if (!drag) return;
    const d = drag;
    drag = null;
    const x = event.offsetX;
    if (d.kind === "resize") {
      const s = d.preview[d.index], old = app.segments[d.index];
      if (s.start !== old.start || s.end !== old.end) edit(() => { app.segments[d.index] = s; });
    } else if (d.kind === "select") {
      app.selected = d.index;
      setCursor(tOf(x));
    } else if (d.kind === "create") {
      if (!d.span || d.span[1] - d.span[0] < minLength()) {
        app.selected = -1;
        setCursor(tOf(x));
      } else {
        let label = app.active || app.labelSet[0];
        if (!label) label = await newLabel();
        if (label) {
          const segment = {start: d.span[0], end: d.span[1], label};
          edit(() => { app.segments.push(segment); });
          app.selected = app.segments.indexOf(segment);
          setActive(label);
        }
      }
    }
    drawRows();
    showDetails();
  }

  function selectedOrAtCursor() {
    if (app.selected >= 0) return app.selected;
    return app.cursor === null ? -1 : segmentAt(app.cursor);
  }

  function split() {
    const i = selectedOrAtCursor();
    if (i < 0 || app.cursor === null) { status("split: put the cursor inside a segment (click)", "error"); return; }
    const s = app.segments[i], t = snap(app.cursor);
    if (t - s.start < minLength() || s.end - t < minLength()) {
      status("split: the cursor is not inside the segment", "error");
      return;
    }
    const right = {start: t, end: s.end, label: s.label};
    edit(() => { s.end = t; app.segments.push(right); });
    app.selected = app.segments.indexOf(right);
    drawRows();
    showDetails();
  }

  function merge() {
    const i = app.selected;
    if (i < 0) { status("merge: select a segment (click it)", "error"); return; }
    const j = i + 1 < app.segments.length ? i + 1 : i - 1;
    if (j < 0) { status("merge: there is no other segment", "error"); return; }
    const [a, b] = [Math.min(i, j), Math.max(i, j)];
    const label = app.segments[i].label;
    edit(() => {
      app.segments[a] = {start: app.segments[a].start, end: app.segments[b].end, label};
      app.segments.splice(b, 1);
      app.selected = a;
    });
  }

  function remove() {
    const i = app.selected;
    if (i < 0) return;
    edit(() => { app.segments.splice(i, 1); app.selected = -1; });
  }

  // ------------------------------------------------------------------ the model's timeline
  function computeRuns() {
    const pred = app.pred;
    app.predRuns = [];
    if (!pred || !pred.available) return;
    const w = pred.windows;
    for (let i = 0; i < w.start.length; i++) {
      const label = pred.classes[w.label[i]];
      const last = app.predRuns[app.predRuns.length - 1];
      if (last && last.label === label && Math.abs(last.end - w.start[i]) < 1e-6) last.end = w.end[i];
      else app.predRuns.push({start: w.start[i], end: w.end[i], label});
    }
    computeLow();
  }

  function computeLow() {
    app.low = [];
    const pred = app.pred;
    if (!pred || !pred.available) return;
    const w = pred.windows;
    for (let i = 0; i < w.start.length; i++) {
      if (w.confidence[i] >= app.threshold) continue;
      const last = app.low[app.low.length - 1];
      if (last && Math.abs(last.end - w.start[i]) < 1e-6) last.end = w.end[i];
      else app.low.push({start: w.start[i], end: w.end[i]});
    }
  }

  async function loadPrediction(rec) {
    let pred;
    try {
      pred = await api(`/api/prediction?name=${q(rec.name)}`);
    } catch (error) {
      pred = {available: false, hint: `model: ${error.message}`};
    }
    if (app.rec !== rec) return;
    app.pred = pred;
    $("prediction-row").title = pred.available ? `${pred.model}: drag or click to select a stretch, then A to accept`
                                               : pred.hint;
    computeRuns();
    drawRows();
    showDetails();
  }

  function predDown(event) {
    if (!app.rec || !app.pred || !app.pred.available || event.button !== 0) return;
    predCanvas.setPointerCapture(event.pointerId);
    drag = {kind: "predsel", x0: event.offsetX, t0: tOf(event.offsetX), span: null};
  }

  function predMove(event) {
    if (!drag || drag.kind !== "predsel") return;
    if (Math.abs(event.offsetX - drag.x0) >= 3) {
      const t = tOf(event.offsetX);
      drag.span = [Math.min(drag.t0, t), Math.max(drag.t0, t)];
      drawRows();
    }
  }

  function predUp(event) {
    if (!drag || drag.kind !== "predsel") return;
    const d = drag;
    drag = null;
    if (d.span) {
      app.predSel = d.span;
    } else {
      const t = tOf(event.offsetX);
      const run = app.predRuns.find((r) => r.start <= t && t < r.end);
      app.predSel = run ? [run.start, run.end] : null;
      setCursor(t);
    }
    drawRows();
  }

  function accept() {
    const pred = app.pred;
    if (!pred || !pred.available) { status("no model timeline to accept", "error"); return; }
    const [a, b] = app.predSel || [app.rec.start + Math.max(app.view[0], 0),
                                    app.rec.start + Math.min(app.view[1], app.rec.duration)];
    const pieces = app.predRuns
      .map((r) => ({start: snap(Math.max(r.start, a)), end: snap(Math.min(r.end, b)), label: r.label}))
      .filter((r) => r.end - r.start >= minLength());
    if (!pieces.length) { status("the model has no timeline in this stretch", "error"); return; }
    const lo = pieces[0].start, hi = pieces[pieces.length - 1].end;
    edit(() => {
      const kept = [];
      for (const s of app.segments) {
        if (s.end <= lo || s.start >= hi) { kept.push(s); continue; }
        if (s.start < lo && lo - s.start >= minLength()) kept.push({start: s.start, end: lo, label: s.label});
        if (s.end > hi && s.end - hi >= minLength()) kept.push({start: hi, end: s.end, label: s.label});
      }
      const all = kept.concat(pieces).sort((x, y) => x.start - y.start);
      const merged = [];
      for (const s of all) {
        const last = merged[merged.length - 1];
        if (last && last.label === s.label && Math.abs(last.end - s.start) < 1e-9) last.end = s.end;
        else merged.push({...s});
      }
      app.segments = merged;
      app.selected = -1;
    });
    addLabels([...new Set(pieces.map((p) => p.label))]);
    status(`accepted ${pieces.length} predicted segment(s) from ${fmt(rel(lo))} to ${fmt(rel(hi))}`, "dirty");
  }

  function jumpLow(direction) {
    if (!app.low.length) { status("no low-confidence stretch", ""); return; }
    const t = app.cursor === null ? app.rec.start + app.view[0] : app.cursor;
    let target;
    if (direction > 0) target = app.low.find((s) => s.start > t + 1e-6) || app.low[0];
    else target = [...app.low].reverse().find((s) => s.start < t - 1e-6) || app.low[app.low.length - 1];
    app.predSel = [target.start, target.end];
    const width = Math.min(Math.max((target.end - target.start) * 4, 20), app.rec.duration);
    const centre = rel((target.start + target.end) / 2);
    setCursor(target.start);
    setView(centre - width / 2, centre + width / 2);
  }

  // ------------------------------------------------------------------ cursor and video
  function setCursor(t, seek = true) {
    app.cursor = t;
    drawCursor();
    showDetails();
    if (seek && app.rec && app.rec.video && video.readyState > 0) {
      const vt = rel(t) + app.offset;
      if (vt >= 0 && (!video.duration || vt <= video.duration)) video.currentTime = vt;
    }
  }

  function followVideo() {
    if (app.rec && app.rec.video && !video.paused) {
      const t = app.rec.start + video.currentTime - app.offset;
      app.cursor = t;
      const [a, b] = app.view;
      if (rel(t) < a || rel(t) > b) setView(rel(t) - (b - a) * 0.1, rel(t) + (b - a) * 0.9);
      drawCursor();
    }
    requestAnimationFrame(followVideo);
  }

  let offsetTimer = null;
  function setOffset(value, save = true) {
    app.offset = Number.isFinite(value) ? value : 0;
    $("video-offset").value = String(Math.round(app.offset * 1000) / 1000);
    if (!save) return;
    clearTimeout(offsetTimer);
    const name = app.rec.name;
    offsetTimer = setTimeout(() => {
      api(`/api/video-offset?name=${q(name)}`, {method: "PUT", body: {offset: app.offset}})
        .catch((error) => status(`video offset not saved: ${error.message}`, "error"));
    }, 400);
  }

  // ------------------------------------------------------------------ drafts, tabs, saving
  const draftKey = (name) => `harcnn-label:${FOLDER_ID}:${name}`;

  function saveDraft() {
    try {
      localStorage.setItem(draftKey(app.rec.name),
                           JSON.stringify({base: app.version, segments: app.segments, time: Date.now()}));
    } catch (error) { /* storage full or off: the edits stay on the page */ }
  }

  function dropDraft(name) {
    try { localStorage.removeItem(draftKey(name)); } catch (error) { /* nothing kept */ }
  }

  function restoreDraft() {
    let draft = null;
    try { draft = JSON.parse(localStorage.getItem(draftKey(app.rec.name)) || "null"); } catch (error) { draft = null; }
    if (!draft || !Array.isArray(draft.segments)) return;
    const when = new Date(draft.time).toLocaleString();
    const restore = () => {
      app.undo.push(copy(app.segments));
      app.segments = copy(draft.segments);
      changed();
    };
    if (draft.base === app.version) {
      restore();
      banner(`Unsaved edits of ${app.rec.name} from ${when} restored (not yet in labels.csv).`,
             [["Discard them", () => discardDraft()]]);
    } else {
      banner(`Unsaved edits of ${app.rec.name} from ${when} were made on labels that have changed since.`,
             [["Restore them", restore], ["Discard them", () => dropDraft(app.rec.name)]]);
    }
  }

  function discardDraft() {
    dropDraft(app.rec.name);
    openRecording(app.rec.name);
  }

  const channel = "BroadcastChannel" in window ? new BroadcastChannel(`harcnn-label:${FOLDER_ID}`) : null;
  const tabId = Math.random().toString(36).slice(2);
  if (channel) {
    channel.onmessage = ({data}) => {
      if (!app.rec || data.tab === tabId || data.name !== app.rec.name) return;
      if (data.type === "open" || data.type === "here") {
        if (data.type === "open") channel.postMessage({type: "here", name: app.rec.name, tab: tabId});
        banner(`${app.rec.name} is open in another tab too: a save there makes a save here stop and ask.`);
      } else if (data.type === "saved") {
        banner(`${app.rec.name} was saved in another tab.`,
               app.dirty ? [] : [["Load it", () => openRecording(app.rec.name)]]);
      }
    };
  }

  function updateStatus() {
    $("save").disabled = !app.rec || !app.dirty;
    $("undo").disabled = !app.undo.length;
    $("redo").disabled = !app.redo.length;
    if (app.rec) status(app.dirty ? "unsaved changes (kept in this browser)" : "saved", app.dirty ? "dirty" : "");
  }

  async function save(version = app.version, replace = false) {
    if (!app.rec) return;
    const rec = app.rec;
    const segments = copy(app.segments);
    status("saving ...");
    try {
      const reply = await api(`/api/labels?name=${q(rec.name)}`, {
        method: "PUT", body: {segments, replace_unreadable: replace}, headers: {"If-Match": `"${version}"`},
      });
      if (app.rec !== rec) return;
      app.version = reply.version;
      if (JSON.stringify(app.segments) === JSON.stringify(segments)) {
        app.dirty = false;
        dropDraft(rec.name);
      } else {
        saveDraft();
      }
      updateStatus();
      status(`saved to labels.csv${reply.backup ? `; the previous file is kept as ${reply.backup}` : ""}`);
      if (channel) channel.postMessage({type: "saved", name: rec.name, tab: tabId});
      loadRecordings();
    } catch (error) {
      if (error.status === 409 && error.body && error.body.conflict) {
        const choice = await ask(`${error.message}.`, [["Save mine over them", "mine"],
                                                      ["Load the saved labels (drop mine)", "theirs"],
                                                      ["Cancel", null]]);
        if (choice === "mine") return save(error.body.version);
        if (choice === "theirs") {
          dropDraft(rec.name);
          return openRecording(rec.name);
        }
        status("not saved: labels.csv holds other labels for this recording", "error");
      } else if (error.status === 409 && error.body && error.body.unreadable) {
        const choice = await ask(`${error.message}\n\nReplace it? The current file is kept as labels.csv.bak ` +
                                 "(its other recordings' rows are then only in that backup).",
                                 [["Replace labels.csv", true], ["Cancel", null]]);
        if (choice) return save(version, true);
        status("not saved", "error");
      } else {
        status(`not saved: ${error.message}`, "error");
      }
    }
  }

  // ------------------------------------------------------------------ recordings
  async function loadRecordings() {
    const reply = await api("/api/recordings");
    app.recordings = reply.recordings;
    const list = $("recordings");
    list.replaceChildren();
    for (const r of app.recordings) {
      const li = document.createElement("li");
      li.dataset.name = r.name;
      li.className = app.rec && app.rec.name === r.name ? "current" : "";
      const name = document.createElement("div");
      name.className = "name";
      name.textContent = r.name + (r.video ? " \u25B6" : "");
      li.append(name);
      if (r.error) {
        const e = document.createElement("div");
        e.className = "error";
        e.textContent = r.error;
        li.append(e);
      } else {
        const share = Math.min(r.labelled / r.duration, 1);
        const row = document.createElement("div");
        row.className = "share";
        const bar = document.createElement("div");
        bar.className = "bar";
        const fill = document.createElement("span");
        fill.style.width = `${100 * share}%`;
        bar.append(fill);
        row.append(bar, `${Math.round(100 * share)}% of ${fmt(r.duration)}`);
        li.append(row);
      }
      li.onclick = () => { location.hash = encodeURIComponent(r.name); };
      list.append(li);
    }
  }

  async function openRecording(name) {
    let rec;
    status(`opening ${name} ...`);
    try {
      rec = await api(`/api/recording?name=${q(name)}`);
    } catch (error) {
      status(`${name}: ${error.message}`, "error");
      return;
    }
    banner("");
    app.rec = rec;
    app.segments = copy(rec.segments);
    app.version = rec.version;
    app.dirty = false;
    app.undo = [];
    app.redo = [];
    app.selected = -1;
    app.cursor = null;
    app.data = null;
    app.pred = null;
    app.predRuns = [];
    app.predSel = null;
    app.low = [];
    app.view = [0, rec.duration];
    for (const li of $("recordings").children) li.className = li.dataset.name === name ? "current" : "";
    if (rec.labels_error) banner(`labels.csv cannot be read: ${rec.labels_error}`);
    else if (rec.from_column) {
      banner("These labels come from the recording's label column; saving writes them into labels.csv.");
    }
    await addLabels([...new Set(rec.segments.map((s) => s.label))]);
    restoreDraft();
    updateStatus();
    $("video-panel").hidden = !rec.video;
    if (rec.video) {
      video.src = rec.video;
      setOffset(rec.video_offset, false);
    } else {
      video.removeAttribute("src");
    }
    await buildPlot();
    drawRows();
    showDetails();
    fetchSignals();
    loadPrediction(rec);
    if (channel) channel.postMessage({type: "open", name, tab: tabId});
  }

  function openFromHash() {
    const name = decodeURIComponent(location.hash.slice(1));
    const names = app.recordings.map((r) => r.name);
    openRecording(names.includes(name) ? name : names[0]);
  }

  // ------------------------------------------------------------------ keys and wiring
  function onKey(event) {
    if (event.target instanceof HTMLInputElement || $("dialog").open || !app.rec) return;
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key;
    let handled = true;
    if (ctrl && key.toLowerCase() === "s") save();
    else if (ctrl && (key.toLowerCase() === "y" || (key.toLowerCase() === "z" && event.shiftKey))) {
      undoRedo(app.redo, app.undo);
    }
    else if (ctrl && key.toLowerCase() === "z") undoRedo(app.undo, app.redo);
    else if (ctrl || event.altKey) handled = false;
    else if (/^[1-9]$/.test(key)) {
      const name = app.labelSet[Number(key) - 1];
      if (name) chooseLabel(name); else handled = false;
    } else if (key === "Delete" || key === "Backspace") remove();
    else if (key === "s") split();
    else if (key === "m") merge();
    else if (key === "a") accept();
    else if (key === "n") jumpLow(1);
    else if (key === "N") jumpLow(-1);
    else if (key === "+" || key === "=") zoom(0.5, app.cursor !== null ? rel(app.cursor) : undefined);
    else if (key === "-") zoom(2, app.cursor !== null ? rel(app.cursor) : undefined);
    else if (key === "ArrowLeft") pan(-0.25);
    else if (key === "ArrowRight") pan(0.25);
    else if (key === "f") setView(0, app.rec.duration);
    else if (key === "Escape") { app.selected = -1; app.predSel = null; drawRows(); showDetails(); }
    else if (key === " " && app.rec.video) { if (video.paused) video.play(); else video.pause(); }
    else if (key === "?") $("help").showModal();
    else handled = false;
    if (handled) event.preventDefault();
  }

  function onWheel(event) {
    if (!app.rec) return;
    event.preventDefault();
    if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
      pan((event.deltaX || event.deltaY) / 800);
    } else {
      zoom(Math.exp(event.deltaY * 0.0015), rel(tOf(event.offsetX)));
    }
  }

  function wire() {
    labelsCanvas.addEventListener("pointerdown", labelsDown);
    labelsCanvas.addEventListener("pointermove", labelsMove);
    labelsCanvas.addEventListener("pointerup", labelsUp);
    predCanvas.addEventListener("pointerdown", predDown);
    predCanvas.addEventListener("pointermove", predMove);
    predCanvas.addEventListener("pointerup", predUp);
    for (const canvas of [labelsCanvas, predCanvas]) canvas.addEventListener("wheel", onWheel, {passive: false});
    let down = null;  // a click (not a drag) on the signals moves the cursor
    plotDiv.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; }, true);
    document.addEventListener("mouseup", (e) => {
      if (!down || !app.rec) return;
      const moved = Math.hypot(e.clientX - down[0], e.clientY - down[1]);
      down = null;
      const box = plotDiv.getBoundingClientRect();
      const x = e.clientX - box.left;
      if (moved < 3 && x >= MARGIN.l && x <= box.width - MARGIN.r && e.clientY < box.bottom) setCursor(tOf(x));
    });
    document.addEventListener("keydown", onKey);
    $("save").onclick = () => save();
    $("undo").onclick = () => undoRedo(app.undo, app.redo);
    $("redo").onclick = () => undoRedo(app.redo, app.undo);
    $("split").onclick = split;
    $("merge").onclick = merge;
    $("delete").onclick = remove;
    $("accept").onclick = accept;
    $("next-low").onclick = () => jumpLow(1);
    $("prev-low").onclick = () => jumpLow(-1);
    $("fit").onclick = () => app.rec && setView(0, app.rec.duration);
    $("add-label").onclick = newLabel;
    $("help-button").onclick = () => $("help").showModal();
    $("threshold").onchange = (e) => {
      const v = Number(e.target.value);
      if (v >= 0 && v <= 1) { app.threshold = v; computeLow(); drawRows(); showDetails(); }
    };
    $("video-offset").onchange = (e) => setOffset(Number(e.target.value));
    $("sync-here").onclick = () => {
      if (app.cursor !== null) setOffset(video.currentTime - rel(app.cursor));
    };
    video.addEventListener("pause", showDetails);
    video.addEventListener("seeked", () => {
      if (video.paused && app.rec) setCursor(app.rec.start + video.currentTime - app.offset, false);
    });
    new ResizeObserver(() => { if (app.rec) { drawRows(); scheduleFetch(); } }).observe($("tracks"));
    window.addEventListener("hashchange", openFromHash);
    requestAnimationFrame(followVideo);
  }

  async function start() {
    wire();
    drawRows();
    const listed = loadRecordings().catch((error) => error);
    try {
      app.state = await api("/api/state");
    } catch (error) {
      status(error.message, "error");
      return;
    }
    $("folder").textContent = app.state.folder;
    $("folder-notes").textContent = (app.state.notes || []).join("; ");
    app.labelSet = app.state.label_set.slice();
    app.active = app.labelSet[0] || null;
    renderLabelButtons();
    if (app.state.labels_error) {
      banner(`labels.csv cannot be read (${app.state.labels_error}); saving asks before replacing it.`);
    }
    const failed = await listed;
    if (failed instanceof Error) { status(failed.message, "error"); return; }
    openFromHash();
  }

  // for the tests and the benchmark: the state, the mapping of times to pixels, and when drawing is done
  window.harcnnLabel = {app, xOf, tOf, setView, settled, save, openRecording};
  start();
})();
