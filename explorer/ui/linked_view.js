// One 2-D view of a probe, drawn on a canvas, linked to the other views of its group (explorer/ui/scatter.py).
//
// Every view of a group shows the same samples in the same row order. A rectangle dragged in a view selects
// the samples inside it; the highlighted samples are those inside every view's rectangle (and of the legend's
// class, when one is clicked); the others turn grey in every view. Hovering a sample rings it in every view
// and shows its input from the group's sprite sheet. A click without a drag clears that view's rectangle.
//
// Each view is its own Streamlit element, so a change that moves two views re-sends only those two; the
// hover images come once per probe, in a separate sprite element whose message the browser keeps.
//
// Test and benchmark hooks: the view's root carries data-n, data-highlighted and data-highlight-sum (the
// sum of the highlighted ids); window.__explorerLinked[group].stats holds the last brush's and hover's
// times in ms (performance.now(), from the pointer event to the drawn frame).

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
const GREY = "#d4d4d4";

function registry() {
  window.__explorerLinked = window.__explorerLinked || {};
  return window.__explorerLinked;
}

function group(name) {
  const r = registry();
  if (!r[name]) {
    r[name] = { views: new Map(), hover: -1, klass: null, mask: null, stats: {}, pending: false };
  }
  return r[name];
}

function sprites() {
  window.__explorerSprites = window.__explorerSprites || {};
  return window.__explorerSprites;
}

function colorOf(c) {
  return PALETTE[((c % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

// The highlighted mask of a group: inside every active rectangle and of the chosen class; null = everyone.
function computeMask(g) {
  let mask = null;
  let n = -1;
  for (const [k, v] of g.views) if (!v.root.isConnected) g.views.delete(k); // a view of a page left behind
  for (const v of g.views.values()) {
    if (n < 0) n = v.n;
    if (v.n !== n) return null; // a view is between two updates: no linking until it has its new rows
  }
  for (const v of g.views.values()) {
    if (!v.inside) continue;
    if (!mask) mask = v.inside.slice();
    else for (let i = 0; i < n; i++) mask[i] &= v.inside[i];
  }
  if (g.klass !== null) {
    const any = g.views.values().next().value;
    if (any) {
      if (!mask) mask = new Uint8Array(n).fill(1);
      for (let i = 0; i < n; i++) if (any.cls[i] !== g.klass) mask[i] = 0;
    }
  }
  return mask;
}

function redrawGroup(g, t0, what) {
  if (g.pending) return;
  g.pending = true;
  requestAnimationFrame(() => {
    g.pending = false;
    g.mask = computeMask(g);
    for (const v of g.views.values()) drawBase(v, g);
    for (const v of g.views.values()) drawOverlay(v, g);
    if (t0 !== undefined) g.stats[what] = performance.now() - t0;
  });
}

function layout(v) {
  const w = Math.max(160, Math.floor(v.root.getBoundingClientRect().width || v.root.parentElement?.clientWidth || 320));
  const h = Math.round(w * v.aspect);
  const dpr = window.devicePixelRatio || 1;
  for (const c of [v.base, v.over]) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    c.style.width = w + "px";
    c.style.height = h + "px";
  }
  v.w = w;
  v.h = h;
  v.dpr = dpr;
  // equal scales on both axes (a 2-D view's distances are what it shows), centred, a margin for the points
  const pad = 8;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < v.n; i++) {
    const x = v.x[i], y = v.y[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  if (!(x1 >= x0)) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  // fixed axes (meta.domain, [[x0, x1], [y0, y1]]): the frames of an animation share them
  if (v.domain) [[x0, x1], [y0, y1]] = v.domain;
  const s = Math.min((w - 2 * pad) / Math.max(x1 - x0, 1e-12), (h - 2 * pad) / Math.max(y1 - y0, 1e-12));
  const ox = (w - s * (x1 - x0)) / 2, oy = (h - s * (y1 - y0)) / 2;
  v.px = new Float32Array(v.n);
  v.py = new Float32Array(v.n);
  for (let i = 0; i < v.n; i++) {
    v.px[i] = ox + (v.x[i] - x0) * s;
    v.py[i] = h - (oy + (v.y[i] - y0) * s); // y up
  }
  v.toData = (px, py) => [x0 + (px - ox) / s, y0 + (h - py - oy) / s];
  v.fromData = (x, y) => [ox + (x - x0) * s, h - (oy + (y - y0) * s)];
  if (v.brush) v.inside = insideMask(v, v.brush);
}

function insideMask(v, b) {
  const m = new Uint8Array(v.n);
  const xa = Math.min(b[0], b[2]), xb = Math.max(b[0], b[2]), ya = Math.min(b[1], b[3]), yb = Math.max(b[1], b[3]);
  for (let i = 0; i < v.n; i++) {
    const x = v.x[i], y = v.y[i];
    m[i] = x >= xa && x <= xb && y >= ya && y <= yb ? 1 : 0;
  }
  return m;
}

function dots(ctx, v, idx, r) {
  ctx.beginPath();
  for (const i of idx) {
    const x = v.px[i], y = v.py[i];
    ctx.moveTo(x + r, y);
    ctx.arc(x, y, r, 0, 6.283185307179586);
  }
  ctx.fill();
}

function drawBase(v, g) {
  const ctx = v.base.getContext("2d");
  ctx.setTransform(v.dpr, 0, 0, v.dpr, 0, 0);
  ctx.clearRect(0, 0, v.w, v.h);
  const mask = g.mask && g.mask.length === v.n ? g.mask : null;
  const r = v.radius;
  const grey = [], byClass = new Map(), anchors = [];
  let count = 0, sum = 0;
  for (let i = 0; i < v.n; i++) {
    if (v.anchor[i]) { anchors.push(i); }
    if (mask && !mask[i]) { if (!v.anchor[i]) grey.push(i); continue; }
    count += 1;
    sum += v.ids[i];
    if (v.anchor[i]) continue;
    const c = v.cls[i];
    if (!byClass.has(c)) byClass.set(c, []);
    byClass.get(c).push(i);
  }
  ctx.globalAlpha = 0.55;
  ctx.fillStyle = GREY;
  dots(ctx, v, grey, r);
  ctx.globalAlpha = 0.85;
  for (const [c, idx] of byClass) {
    ctx.fillStyle = colorOf(c);
    dots(ctx, v, idx, r);
  }
  ctx.globalAlpha = 1;
  // anchors on top, larger, with a dark ring: the samples every relative coordinate is measured against
  ctx.lineWidth = 1.2;
  ctx.strokeStyle = "#222";
  for (const i of anchors) {
    ctx.beginPath();
    ctx.arc(v.px[i], v.py[i], r * 2.1, 0, 6.283185307179586);
    ctx.fillStyle = mask && !mask[i] ? GREY : colorOf(v.cls[i]);
    ctx.fill();
    ctx.stroke();
  }
  v.root.dataset.highlighted = String(count);
  v.root.dataset.highlightSum = String(sum);
}

function drawOverlay(v, g) {
  const ctx = v.over.getContext("2d");
  ctx.setTransform(v.dpr, 0, 0, v.dpr, 0, 0);
  ctx.clearRect(0, 0, v.w, v.h);
  const b = v.drag || (v.brush ? [v.brush[0], v.brush[1], v.brush[2], v.brush[3]] : null);
  if (b) {
    const p0 = v.fromData(b[0], b[1]), p1 = v.fromData(b[2], b[3]);
    ctx.fillStyle = "rgba(60, 60, 60, 0.08)";
    ctx.strokeStyle = "#444";
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    const x = Math.min(p0[0], p1[0]), y = Math.min(p0[1], p1[1]);
    ctx.fillRect(x, y, Math.abs(p1[0] - p0[0]), Math.abs(p1[1] - p0[1]));
    ctx.strokeRect(x, y, Math.abs(p1[0] - p0[0]), Math.abs(p1[1] - p0[1]));
    ctx.setLineDash([]);
  }
  const i = g.hover;
  if (i >= 0 && i < v.n) {
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = "#111";
    ctx.beginPath();
    ctx.arc(v.px[i], v.py[i], v.radius * 3 + 3, 0, 6.283185307179586);
    ctx.stroke();
  }
}

function nearest(v, mx, my, within) {
  let best = -1, bd = within * within;
  for (let i = 0; i < v.n; i++) {
    const dx = v.px[i] - mx, dy = v.py[i] - my, d = dx * dx + dy * dy;
    if (d < bd) { bd = d; best = i; }
  }
  return best;
}

function showTip(v, i, ev) {
  const tip = v.tip;
  if (i < 0) { tip.style.display = "none"; return; }
  const parts = [`<b>id ${v.ids[i]}</b> · ${v.classNames[v.cls[i]] ?? v.cls[i]}${v.anchor[i] ? " · anchor" : ""}`];
  if (v.text) parts.push(`<div class="txt"></div>`);
  tip.innerHTML = parts.join("");
  if (v.text) tip.querySelector(".txt").textContent = v.text[i];
  const sp = v.sprite ? sprites()[v.sprite] : null;
  if (sp && sp.image && i < sp.n) {
    const c = document.createElement("canvas");
    const size = v.presenting ? 112 : 84;
    c.width = size;
    c.height = size;
    const ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    const col = i % sp.cols, row = Math.floor(i / sp.cols);
    ctx.drawImage(sp.image, col * sp.cell, row * sp.cell, sp.cell, sp.cell, 0, 0, size, size);
    tip.prepend(c);
  }
  tip.style.display = "block";
  const bx = ev.clientX + 14, by = ev.clientY + 14;
  tip.style.left = Math.min(bx, window.innerWidth - 180) + "px";
  tip.style.top = Math.min(by, window.innerHeight - 150) + "px";
}

function legend(v, g) {
  const el = v.legend;
  el.innerHTML = "";
  if (!v.showLegend) { // the same height as the legend row beside it, so the grid's canvases line up
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = v.order === 1 ? "drag: select in every view · click: clear · hover: the input" : "";
    el.append(hint);
    return;
  }
  v.classNames.forEach((name, c) => {
    const item = document.createElement("span");
    item.className = "item" + (g.klass === c ? " on" : g.klass !== null ? " off" : "");
    item.innerHTML = `<i style="background:${colorOf(c)}"></i>`;
    item.append(document.createTextNode(name));
    item.title = "Click: highlight this class in every view; click again: all classes";
    item.onclick = () => {
      g.klass = g.klass === c ? null : c;
      for (const u of g.views.values()) legend(u, g);
      redrawGroup(g, performance.now(), "legend_ms");
    };
    el.append(item);
  });
  if (!v.anchor.some(a => a)) return; // no anchors in this view (an animation's frames): nothing to explain
  const hint = document.createElement("span");
  hint.className = "hint";
  hint.textContent = "◯ large = anchor";
  el.append(hint);
}

// The views of a group side by side have headers of one height, so their canvases line up (a title or the
// legend may wrap in one view and not in another).
function alignHeaders(g) {
  const views = [...g.views.values()];
  for (const v of views) v.headbox.style.minHeight = "";
  const tallest = Math.max(...views.map((v) => v.headbox.getBoundingClientRect().height));
  for (const v of views) v.headbox.style.minHeight = tallest + "px";
}

function exportPng(g) {
  const views = [...g.views.values()].sort((a, b) => a.order - b.order);
  if (!views.length) return;
  const cols = Math.min(2, views.length), rows = Math.ceil(views.length / cols);
  const w = views[0].w, h = views[0].h, head = 28, dpr = views[0].dpr;
  const out = document.createElement("canvas");
  out.width = cols * w * dpr;
  out.height = rows * (h + head) * dpr;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, out.width, out.height);
  views.forEach((v, k) => {
    const x = (k % cols) * w * dpr, y = Math.floor(k / cols) * (h + head) * dpr;
    ctx.fillStyle = "#222";
    ctx.font = `${14 * dpr}px sans-serif`;
    ctx.fillText(v.titleText, x + 6 * dpr, y + 18 * dpr);
    ctx.drawImage(v.base, x, y + head * dpr);
    ctx.drawImage(v.over, x, y + head * dpr);
  });
  const a = document.createElement("a");
  a.href = out.toDataURL("image/png");
  a.download = `${views[0].groupName}.png`;
  a.click();
}

export default function (component) {
  const { data, parentElement } = component;
  const meta = data.meta;
  const frame = data.frame;
  const g = group(meta.group);
  let v = parentElement.__linkedView;
  if (!v) {
    const root = document.createElement("div");
    root.className = "lv";
    root.innerHTML = `<div class="headbox"><div class="head"><span class="title"></span><button class="png" title="Save all the views of this figure as one PNG">PNG</button></div>
      <div class="legend"></div></div><div class="stack"><canvas class="base"></canvas><canvas class="over"></canvas></div>
      <div class="tip"></div>`;
    parentElement.append(root);
    v = {
      root,
      base: root.querySelector(".base"),
      over: root.querySelector(".over"),
      tip: root.querySelector(".tip"),
      legend: root.querySelector(".legend"),
      title: root.querySelector(".title"),
      headbox: root.querySelector(".headbox"),
      png: root.querySelector(".png"),
    };
    parentElement.__linkedView = v;
    const pos = (ev) => {
      const r = v.over.getBoundingClientRect();
      return [ev.clientX - r.left, ev.clientY - r.top];
    };
    v.over.addEventListener("pointerdown", (ev) => {
      const [mx, my] = pos(ev);
      v.start = [mx, my];
      v.over.setPointerCapture(ev.pointerId);
      showTip(v, -1);
    });
    v.over.addEventListener("pointermove", (ev) => {
      const t0 = performance.now();
      const [mx, my] = pos(ev);
      const gg = group(v.groupName);
      if (v.start) {
        const a = v.toData(v.start[0], v.start[1]), b = v.toData(mx, my);
        v.drag = [a[0], a[1], b[0], b[1]];
        v.brush = v.drag;
        v.inside = insideMask(v, v.brush);
        redrawGroup(gg, t0, "brush_ms");
        return;
      }
      const i = nearest(v, mx, my, v.presenting ? 12 : 9);
      if (i !== gg.hover) {
        gg.hover = i;
        for (const u of gg.views.values()) drawOverlay(u, gg);
        gg.stats.hover_ms = performance.now() - t0;
      }
      showTip(v, i, ev);
    });
    v.over.addEventListener("pointerup", (ev) => {
      const t0 = performance.now();
      const [mx, my] = pos(ev);
      const gg = group(v.groupName);
      const moved = v.start && Math.hypot(mx - v.start[0], my - v.start[1]) > 3;
      if (!moved) { v.brush = null; v.inside = null; }
      v.start = null;
      v.drag = null;
      redrawGroup(gg, t0, "brush_ms");
    });
    v.over.addEventListener("pointerleave", () => {
      const gg = group(v.groupName);
      showTip(v, -1);
      if (gg.hover >= 0) {
        gg.hover = -1;
        for (const u of gg.views.values()) drawOverlay(u, gg);
      }
    });
    v.png.addEventListener("click", () => exportPng(group(v.groupName)));
    v.resize = new ResizeObserver(() => {
      const w = Math.floor(v.root.getBoundingClientRect().width);
      if (w && Math.abs(w - v.w) > 1) {
        layout(v);
        const gg = group(v.groupName);
        drawBase(v, gg);
        drawOverlay(v, gg);
        alignHeaders(gg);
      }
    });
    v.resize.observe(v.root);
  }
  // this view's rows (a new version of the data drops its rectangle: its coordinates changed)
  const fresh = v.version !== meta.version;
  v.version = meta.version;
  v.groupName = meta.group;
  v.key = meta.key;
  v.order = meta.order;
  v.n = frame.numRows;
  v.x = frame.getChild("x").toArray();
  v.y = frame.getChild("y").toArray();
  v.ids = frame.getChild("id").toArray();
  v.cls = frame.getChild("class").toArray();
  v.anchor = frame.getChild("anchor").toArray();
  const txt = frame.getChild("text");
  v.text = txt ? Array.from({ length: v.n }, (_, i) => txt.get(i)) : null;
  v.classNames = meta.classes;
  v.sprite = meta.sprite;
  v.presenting = !!meta.presenting;
  v.showLegend = !!meta.legend;
  v.aspect = meta.aspect || 1;
  v.domain = meta.domain || null;
  v.radius = meta.radius || (v.n > 4000 ? 1.6 : v.n > 1000 ? 2.3 : 3.2) * (v.presenting ? 1.3 : 1);
  v.titleText = meta.title;
  v.title.textContent = meta.title;
  v.root.classList.toggle("presenting", v.presenting);
  v.png.style.display = meta.export ? "inline-block" : "none";
  v.root.dataset.view = meta.key;
  v.root.dataset.n = String(v.n);
  if (fresh) { v.brush = null; v.inside = null; }
  layout(v);
  g.views.set(meta.key, v);
  legend(v, g);
  alignHeaders(g);
  const t0 = performance.now();
  g.mask = computeMask(g);
  for (const u of g.views.values()) { drawBase(u, g); drawOverlay(u, g); }
  g.stats.draw_ms = performance.now() - t0;
  v.root.dataset.drawn = String(Date.now());
  return () => {
    const gg = group(v.groupName);
    if (gg.views.get(v.key) === v && !v.root.isConnected) gg.views.delete(v.key);
  };
}
