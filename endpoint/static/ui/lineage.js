/* provml lineage graph on a resource page: nodes coloured by PROV-ML class, raw data on the
   left, predictions on the right; a click opens the node's page. */
(function () {
  "use strict";
  const box = document.getElementById("lineage-graph");
  if (!box || !window.cytoscape) return;
  const COLOURS = {
    prediction: "#cc79a7", model: "#d55e00", dataset: "#009e73", data: "#56b4e9",
    execution: "#e69f00", workflow: "#b0893a", value: "#999999", other: "#8c96a0",
  };
  const NAMES = {
    prediction: "prediction", model: "model", dataset: "learning dataset", data: "data",
    execution: "execution", workflow: "workflow execution", other: "other",
  };

  fetch(box.dataset.src, { headers: { Accept: "application/json" } })
    .then((r) => r.json())
    .then((g) => {
      if (!g.ok || g.nodes.length < 2) return;
      box.hidden = false;
      // columns: signed distance from the centre (backward negative), along lineage links
      const level = { [g.center]: 0 };
      const out = {}, inc = {};
      g.edges.forEach((e) => { (out[e.source] = out[e.source] || []).push(e.target); (inc[e.target] = inc[e.target] || []).push(e.source); });
      for (const [adj, sign] of [[out, -1], [inc, 1]]) {
        let frontier = [g.center];
        while (frontier.length) {
          const next = [];
          frontier.forEach((n) => (adj[n] || []).forEach((m) => {
            if (level[m] === undefined) { level[m] = level[n] + sign; next.push(m); }
          }));
          frontier = next;
        }
      }
      const rows = {}, size = {};
      g.nodes.forEach((n) => { const c = level[n.iri] || 0; size[c] = (size[c] || 0) + 1; });
      const elements = g.nodes.map((n) => {
        const col = level[n.iri] || 0;
        const row = (rows[col] = (rows[col] || 0) + 1) - 1 - (size[col] - 1) / 2;
        return {
          group: "nodes",
          data: { id: n.iri, label: n.label, cls: n["class"], kind: n.kind, href: n.href, center: n.iri === g.center ? 1 : 0, raw: n.raw ? 1 : 0 },
          position: { x: col * 170, y: row * 70 },
        };
      });
      g.edges.forEach((e, i) => elements.push({ group: "edges", data: { id: "e" + i, source: e.source, target: e.target, label: e.label } }));
      const cy = window.cytoscape({
        container: document.getElementById("lineage-canvas"),
        elements,
        layout: { name: "preset", fit: true, padding: 30 },
        wheelSensitivity: 0.3,
        style: [
          { selector: "node", style: {
            "background-color": (n) => COLOURS[n.data("kind")] || COLOURS.other,
            label: "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 4,
            "text-wrap": "ellipsis", "text-max-width": 140, width: 22, height: 22 } },
          { selector: "node[center = 1]", style: { "border-width": 4, "border-color": "#1d232a", width: 30, height: 30 } },
          { selector: "node[raw = 1]", style: { shape: "round-rectangle" } },
          { selector: "edge", style: {
            width: 1.5, "line-color": "#b6c0ca", "target-arrow-color": "#b6c0ca",
            "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(label)",
            "font-size": 8, color: "#5b6773", "text-rotation": "autorotate" } },
          { selector: "node:active, node:selected", style: { "overlay-opacity": 0.15 } },
        ],
      });
      cy.on("tap", "node", (evt) => { const href = evt.target.data("href"); if (href) window.location.href = href; });
      cy.on("mouseover", "node", (evt) => { evt.cy.container().style.cursor = "pointer"; evt.target.style("font-weight", "bold"); });
      cy.on("mouseout", "node", (evt) => { evt.cy.container().style.cursor = ""; evt.target.style("font-weight", "normal"); });
      window.provmlLineage = cy;
      const kinds = [...new Set(g.nodes.map((n) => n.kind))];
      document.getElementById("lineage-legend").innerHTML = kinds
        .map((k) => `<span><i style="background:${COLOURS[k] || COLOURS.other}"></i>${NAMES[k] || k}</span>`).join("") +
        "<span>▢ raw data (no captured execution generated it)</span>";
      box.dataset.ready = "true";
    })
    .catch(() => {});
})();
