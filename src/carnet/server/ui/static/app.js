// carnet web UI: progressive enhancement of server-rendered pages (no inline script anywhere).
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.addEventListener("htmx:configRequest", (e) => { e.detail.headers["X-CSRF-Token"] = csrf(); });

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
    });
  }

  function columnChooser(root) {
    root.querySelectorAll("select[data-cols-target]").forEach((sel) => {
      const hidden = sel.form.querySelector('input[name="' + sel.dataset.colsTarget + '"]');
      sel.removeAttribute("name");
      sel.addEventListener("change", () => {
        hidden.value = Array.from(sel.selectedOptions).map((o) => o.value).join(",");
      });
    });
  }

  const palette = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#6e7781"];
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) { throw new Error((await r.json().catch(() => ({}))).detail || r.statusText); }
    return r.json();
  }

  function chartSize(el) { return { width: Math.max(320, el.clientWidth || 460), height: el.classList.contains("large") ? 480 : 240 }; }

  // one run's metric: mean line with a min-max band; a selected range is fetched at full resolution
  async function singleChart(el) {
    const base = el.dataset.series;
    let s = await getJSON(base);
    el.dataset.points = String(s.step.length);
    el.dataset.total = String(s.total);
    const opts = Object.assign(chartSize(el), {
      scales: { x: { time: false } },
      series: [{ label: "step" },
        { label: "value", stroke: palette[0], width: 1.5 },
        { label: "min", stroke: cssVar("--band"), width: 1 },
        { label: "max", stroke: cssVar("--band"), width: 1 }],
      bands: [{ series: [3, 2], fill: cssVar("--band") }],
      hooks: { setSelect: [async (u) => {
        if (u.select.width < 2) { return; }
        const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
        const z = await getJSON(base + "&start=" + Math.floor(lo) + "&end=" + Math.ceil(hi));
        u.setData([z.step, z.value, z.min, z.max]);
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        el.dataset.zoomed = "1"; el.dataset.points = String(z.step.length);
      }] },
      cursor: { drag: { x: true, y: false, setScale: false } },
    });
    const u = new uPlot(opts, [s.step, s.value, s.min, s.max], el);
    u.over.addEventListener("dblclick", () => { u.setData([s.step, s.value, s.min, s.max]); el.dataset.zoomed = ""; });
    el.dataset.drawn = "1";
  }

  // one metric of several runs (one request for all), overlaid on the union of their steps
  async function multiChart(el) {
    const all = (await getJSON(el.dataset.series)).series;
    const steps = Array.from(new Set(all.flatMap((s) => s.step))).sort((a, b) => a - b);
    const index = new Map(steps.map((x, i) => [x, i]));
    const data = [steps];
    const series = [{ label: "step" }];
    all.forEach((s, i) => {
      const col = new Array(steps.length).fill(null);
      s.step.forEach((x, j) => { col[index.get(x)] = s.value[j]; });
      data.push(col);
      series.push({ label: s.run.slice(0, 8), stroke: palette[i % palette.length], width: 1.5, spanGaps: true, points: { show: steps.length < 50 } });
    });
    new uPlot(Object.assign(chartSize(el), { scales: { x: { time: false } }, series }), data, el);
    el.dataset.drawn = "1";
  }

  function draw(el) {
    if (el.dataset.drawing) { return; }
    el.dataset.drawing = "1";
    (el.classList.contains("multi") ? multiChart(el) : singleChart(el)).catch((err) => {
      const p = document.createElement("p"); p.className = "error"; p.textContent = String(err.message || err); el.appendChild(p);
    });
  }

  // charts are drawn when they come into view: a run with a hundred metrics fetches what is seen
  const seen = typeof IntersectionObserver === "undefined" ? null : new IntersectionObserver((entries) => {
    entries.forEach((e) => { if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); } });
  }, { rootMargin: "200px" });

  function charts(root) {
    if (typeof uPlot === "undefined") { return; }
    root.querySelectorAll("figure.chart:not([data-drawn])").forEach((el) => { seen ? seen.observe(el) : draw(el); });
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function numeric(rows, c) { return rows.every((r) => r[c] === null || typeof r[c] === "number"); }
  function scaler(values, log, lo, hi) {
    const v = values.filter((x) => x !== null && (!log || x > 0)).map((x) => (log ? Math.log10(x) : x));
    const min = Math.min(...v), max = Math.max(...v);
    return (x) => { if (x === null || (log && x <= 0)) { return null; } const t = log ? Math.log10(x) : x; return max === min ? (lo + hi) / 2 : hi - ((t - min) / (max - min)) * (hi - lo); };
  }

  // parallel coordinates: pick axes, brush ranges, log axes
  function parcoords(data) {
    const host = document.getElementById("parcoords");
    if (!host) { return; }
    const picker = document.createElement("div"); picker.className = "axes-picker"; host.appendChild(picker);
    const shown = new Set(data.columns.slice(0, 8)), logs = new Set(), brushes = new Map();
    data.columns.forEach((c, i) => {
      const l = document.createElement("label");
      const cb = document.createElement("input"); cb.type = "checkbox"; cb.checked = shown.has(c);
      cb.addEventListener("change", () => { cb.checked ? shown.add(c) : shown.delete(c); draw(); });
      const lg = document.createElement("input"); lg.type = "checkbox"; lg.title = "log axis";
      lg.addEventListener("change", () => { lg.checked ? logs.add(c) : logs.delete(c); brushes.delete(c); draw(); });
      l.append(cb, " " + c + " ", lg, " log"); picker.appendChild(l);
    });
    let svg = null;
    function draw() {
      if (svg) { svg.remove(); }
      const cols = data.columns.filter((c) => shown.has(c));
      const W = host.clientWidth || 900, H = 360, top = 30, bottom = H - 20;
      svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "parallel coordinates" }, host);
      const x = (i) => 40 + (i * (W - 80)) / Math.max(1, cols.length - 1);
      const idx = cols.map((c) => data.columns.indexOf(c));
      const scales = cols.map((c, k) => {
        const vals = data.rows.map((r) => r[idx[k]]);
        if (numeric(data.rows, idx[k])) { return scaler(vals, logs.has(c), top, bottom); }
        const cats = Array.from(new Set(vals.map(String))).sort();
        return (v) => top + ((cats.indexOf(String(v)) + 0.5) * (bottom - top)) / cats.length;
      });
      data.rows.forEach((r, ri) => {
        const pts = cols.map((c, k) => [x(k), scales[k](r[idx[k]])]).filter((p) => p[1] !== null);
        const inside = cols.every((c, k) => { const b = brushes.get(c); const y = scales[k](r[idx[k]]); return !b || (y !== null && y >= b[0] && y <= b[1]); });
        const p = svgEl("path", { d: "M" + pts.map((p) => p[0] + "," + p[1]).join("L"), class: "run" + (inside ? "" : " out") }, svg);
        svgEl("title", {}, p).textContent = data.runs[ri].name + " " + data.runs[ri].id.slice(0, 8);
      });
      cols.forEach((c, k) => {
        const g = svgEl("g", { class: "axis" }, svg);
        svgEl("line", { x1: x(k), x2: x(k), y1: top, y2: bottom }, g);
        svgEl("text", { x: x(k), y: 14, "text-anchor": "middle" }, g).textContent = c + (logs.has(c) ? " (log)" : "");
        const b = brushes.get(c);
        if (b) { svgEl("rect", { class: "brush", x: x(k) - 8, width: 16, y: b[0], height: b[1] - b[0] }, g); }
        const hit = svgEl("rect", { x: x(k) - 10, width: 20, y: top - 8, height: bottom - top + 16, fill: "transparent", "data-axis": c }, g);
        let start = null;
        const toY = (ev) => { const pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY; return pt.matrixTransform(svg.getScreenCTM().inverse()).y; };
        hit.addEventListener("pointerdown", (ev) => { start = toY(ev); hit.setPointerCapture(ev.pointerId); });
        hit.addEventListener("pointerup", (ev) => {
          const end = toY(ev);
          if (start === null || Math.abs(end - start) < 3) { brushes.delete(c); } else { brushes.set(c, [Math.min(start, end), Math.max(start, end)]); }
          start = null; draw();
        });
      });
      host.dataset.kept = String(svg.querySelectorAll("path.run:not(.out)").length);
    }
    draw();
  }

  // scatter of any two numeric columns
  function scatter(data) {
    const host = document.getElementById("scatter");
    if (!host) { return; }
    const nums = data.columns.filter((c, i) => numeric(data.rows, i));
    if (nums.length < 1) { host.textContent = "No numeric column to plot."; return; }
    const pick = (name, init) => {
      const s = document.createElement("select"); s.setAttribute("aria-label", name);
      nums.forEach((c) => { const o = document.createElement("option"); o.value = o.textContent = c; s.appendChild(o); });
      s.value = init; s.addEventListener("change", draw); host.appendChild(document.createTextNode(" " + name + " ")); host.appendChild(s); return s;
    };
    const sx = pick("x", nums[0]), sy = pick("y", nums[Math.min(1, nums.length - 1)]);
    let svg = null;
    function draw() {
      if (svg) { svg.remove(); }
      const W = host.clientWidth || 600, H = 360;
      svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "scatter" }, host);
      const ix = data.columns.indexOf(sx.value), iy = data.columns.indexOf(sy.value);
      const fx = scaler(data.rows.map((r) => r[ix]), false, W - 30, 40), fy = scaler(data.rows.map((r) => r[iy]), false, 20, H - 30);
      const g = svgEl("g", { class: "axis" }, svg);
      svgEl("line", { x1: 40, x2: W - 30, y1: H - 30, y2: H - 30 }, g); svgEl("line", { x1: 40, x2: 40, y1: 20, y2: H - 30 }, g);
      svgEl("text", { x: W / 2, y: H - 8, "text-anchor": "middle" }, g).textContent = sx.value;
      svgEl("text", { x: 4, y: 14 }, g).textContent = sy.value;
      data.rows.forEach((r, i) => {
        const X = fx(r[ix]), Y = fy(r[iy]);
        if (X === null || Y === null) { return; }
        const c = svgEl("circle", { cx: X, cy: Y, r: 4 }, svg);
        svgEl("title", {}, c).textContent = data.runs[i].name + ": " + r[ix] + ", " + r[iy];
      });
    }
    draw();
  }

  function compare() {
    const el = document.getElementById("compare-data");
    if (!el) { return; }
    const data = JSON.parse(el.textContent);
    parcoords(data); scatter(data);
  }

  // child runs (a search's trials) fold under their parent: collapsed once the script runs
  function nesting(root) {
    const kids = (id) => Array.from(document.querySelectorAll('tr[data-parent="' + id + '"]'));
    const close = (id) => kids(id).forEach((tr) => {
      tr.hidden = true;
      const inner = tr.querySelector("button.toggle");
      if (inner) { inner.setAttribute("aria-expanded", "false"); close(inner.dataset.toggle); }
    });
    root.querySelectorAll("button.toggle[data-toggle]").forEach((b) => {
      b.setAttribute("aria-expanded", "false");
      b.addEventListener("click", () => {
        if (b.getAttribute("aria-expanded") === "true") { b.setAttribute("aria-expanded", "false"); close(b.dataset.toggle); }
        else { b.setAttribute("aria-expanded", "true"); kids(b.dataset.toggle).forEach((tr) => { tr.hidden = false; }); }
      });
    });
    root.querySelectorAll("tr.child").forEach((tr) => { tr.hidden = true; });
  }

  function enhance(root) { localTimes(root); columnChooser(root); nesting(root); charts(root); }
  document.addEventListener("DOMContentLoaded", () => { enhance(document); compare(); });
  document.addEventListener("htmx:afterSwap", (e) => enhance(e.target));
})();
