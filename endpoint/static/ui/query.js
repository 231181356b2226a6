/* provml query editor: YASGUI on /sparql, prefixes filled in, named queries as examples, and a
   small SVG chart plugin for YASR (the @zazuko/yasr package has table and raw response only). */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("ui-config").textContent);
  const host = document.getElementById("yasgui");
  if (!window.Yasgui || !host) return;
  document.documentElement.classList.add("js");

  const NUMERIC = /#(decimal|double|float|integer|int|long|short|byte|nonNegativeInteger|positiveInteger|unsignedInt)$/;
  const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9"];
  const SVGNS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    const node = document.createElementNS(SVGNS, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* Chart: the numeric columns as lines (x = first numeric column when the first column is
     numeric, else the row order, labelled by the first column) */
  class ChartPlugin {
    constructor(yasr) { this.yasr = yasr; this.priority = 5; this.label = "Chart"; }
    columns() {
      const r = this.yasr.results;
      if (!r || !r.getVariables || !r.getBindings) return null;
      const vars = r.getVariables(), rows = r.getBindings() || [];
      const numeric = vars.filter((v) => rows.length && rows.every((b) => !b[v] || (b[v].datatype && NUMERIC.test(b[v].datatype))) && rows.some((b) => b[v]));
      return { vars, rows, numeric };
    }
    canHandleResults() { const c = this.columns(); return !!c && c.numeric.length > 0 && c.rows.length > 0; }
    getIcon() {
      const svg = el("svg", { viewBox: "0 0 16 16", width: 15, height: 15, "aria-hidden": "true" });
      svg.appendChild(el("polyline", { points: "1,14 5,8 9,10 15,2", fill: "none", stroke: "currentColor", "stroke-width": 2 }));
      return svg;
    }
    draw() {
      const { vars, rows, numeric } = this.columns();
      const byX = numeric.length > 1 && vars[0] === numeric[0];
      const series = byX ? numeric.slice(1) : numeric;
      const xs = rows.map((b, i) => (byX ? parseFloat(b[numeric[0]].value) : i));
      const labels = rows.map((b, i) => (byX ? String(xs[i]) : (b[vars[0]] ? b[vars[0]].value.split(/[/#]/).pop() : String(i))));
      const ys = [];
      series.forEach((v) => rows.forEach((b) => { if (b[v]) ys.push(parseFloat(b[v].value)); }));
      const W = 760, H = 320, L = 60, R = 16, T = 16, B = 70;
      let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
      if (x0 === x1) { x0 -= 1; x1 += 1; }
      if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
      const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
      const sy = (y) => T + (H - T - B) - ((y - y0) / (y1 - y0)) * (H - T - B);
      const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "chart of the results" });
      svg.appendChild(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#d8dee4" }));
      for (let i = 0; i <= 4; i++) {
        const y = y0 + ((y1 - y0) * i) / 4;
        svg.appendChild(el("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end", "font-size": 11 }, y.toPrecision(3)));
      }
      const step = Math.max(1, Math.ceil(rows.length / 12));
      let lastX = -Infinity;
      rows.forEach((b, i) => { if (i % step !== 0 || sx(xs[i]) - lastX < 40) return; lastX = sx(xs[i]); svg.appendChild(el("text", { x: sx(xs[i]), y: H - B + 16, "text-anchor": "middle", "font-size": 11 }, labels[i].slice(0, 14))); });
      series.forEach((v, k) => {
        const colour = COLOURS[k % COLOURS.length];
        const pts = rows.map((b, i) => (b[v] ? `${sx(xs[i]).toFixed(1)},${sy(parseFloat(b[v].value)).toFixed(1)}` : null)).filter(Boolean);
        svg.appendChild(el("polyline", { points: pts.join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
        pts.forEach((p) => { const [cx, cy] = p.split(","); svg.appendChild(el("circle", { cx, cy, r: 3, fill: colour })); });
        svg.appendChild(el("rect", { x: L + k * 140, y: H - 22, width: 10, height: 10, fill: colour }));
        svg.appendChild(el("text", { x: L + k * 140 + 14, y: H - 13, "font-size": 11 }, v));
      });
      const box = document.createElement("div");
      box.className = "yasr-chart";
      box.appendChild(svg);
      this.yasr.resultsEl.appendChild(box);
    }
  }
  Yasgui.Yasr.registerPlugin("chart", ChartPlugin);

  const yasgui = new Yasgui(host, {
    requestConfig: { endpoint: cfg.endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    persistenceId: null,
    populateFromUrl: false,
    endpointCatalogueOptions: { getData: () => [{ endpoint: cfg.endpoint }], keys: ["endpoint"] },
    yasqe: { value: cfg.query },
    yasr: { pluginOrder: ["table", "chart", "response"], defaultPlugin: "table",
            prefixes: Object.assign({ id: cfg.instance_base }, cfg.prefixes) },
  });
  window.provmlYasgui = yasgui;
  const tab = () => yasgui.getTab();
  tab().setQuery(cfg.query);

  // links to instance IRIs in the results open their pages here, not the (public) IRI itself
  host.addEventListener("click", (evt) => {
    const a = evt.target.closest && evt.target.closest("a[href]");
    if (!a || !cfg.instance_base || !a.href.startsWith(cfg.instance_base)) return;
    evt.preventDefault();
    window.location.href = "/id/" + a.href.slice(cfg.instance_base.length);
  }, true);

  const picker = document.getElementById("examples");
  picker.addEventListener("change", () => {
    const ex = cfg.examples.find((e) => e.name === picker.value);
    if (ex) tab().setQuery(ex.query);
  });
})();
