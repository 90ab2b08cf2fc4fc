// Renders every [data-figure] element with the locally served plotly.js, marks it data-rendered="true"
// (the browser tests wait for that), shows an empty state (title and a note, no axes) when a figure has no
// points, and follows the colour scheme: backgrounds, text and grid come from the CSS palette
// (static/css/headroom.css), and charts are drawn again when the scheme changes. Also wires the filter bar:
// changing a control reloads with the new query string, which carries the charts' plot width (the server
// picks the resolution from it).
(() => {
  // The figure's own layout, on the page's colours. The colour-blind-safe colourway stays; its black
  // ("ink", Okabe-Ito's last colour) becomes the text colour, so it stays visible on a dark background.
  function themed(fig) {
    const css = getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(name).trim();
    const [fg, panel, line, grid] = [v("--fg"), v("--panel"), v("--line"), v("--grid")];
    const ink = (x) => Array.isArray(x) ? x.map(ink)
      : x && typeof x === "object" ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, ink(y)]))
      : typeof x === "string" && x.toLowerCase() === "#000000" ? fg : x;
    const data = ink(fig.data || []);
    const layout = ink(fig.layout || {});
    Object.assign(layout, {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: Object.assign({}, layout.font, { color: fg }),
      hoverlabel: Object.assign({ bgcolor: panel, bordercolor: line, font: { color: fg } }, layout.hoverlabel),
      legend: Object.assign({}, layout.legend, { bgcolor: "rgba(0,0,0,0)" }),
    });
    const axes = new Set(["xaxis", "yaxis", ...Object.keys(layout).filter((k) => /^[xy]axis\d*$/.test(k))]);
    for (const key of axes) {
      layout[key] = Object.assign({}, layout[key], { gridcolor: grid, linecolor: line, zerolinecolor: line });
    }
    return { data, layout };
  }
  // Plotly's JSON sends numeric arrays as typed arrays ({dtype: "f8", bdata: base64, shape?}), others as lists.
  const length = (v) => {
    if (Array.isArray(v)) return v.length;
    if (v && v.bdata !== undefined) {
      return v.shape ? String(v.shape).split(",").reduce((n, d) => n * Number(d), 1)
                     : atob(v.bdata).length / Number(v.dtype.slice(1));
    }
    return 0;
  };
  const points = (trace) => ["x", "y", "z", "values", "r"].reduce((n, k) => Math.max(n, length(trace[k])), 0);

  function render(el) {
    const { data, layout } = themed(JSON.parse(el.dataset.figure));
    el.innerHTML = "";
    const empty = !data.some((t) => points(t) > 0);
    if (empty) {
      // No point to place: the title and the note, not axes around nothing (Plotly's default -1..6).
      for (const key of Object.keys(layout).filter((k) => /^[xy]axis\d*$/.test(k))) layout[key].visible = false;
      layout.height = 90;
      el.style.minHeight = "0";  // the space reserved for a chart while it loads
    }
    return Plotly.newPlot(el, data, layout, { responsive: true, displaylogo: false }).then(() => {
      el.setAttribute("data-rendered", "true");
      el.setAttribute("data-points", String(data.reduce((n, t) => n + points(t), 0)));
      if (empty) {
        const note = document.createElement("p");
        note.className = "chart-empty";
        note.textContent = "No data for this range and selection.";
        el.prepend(note);
      }
    });
  }

  // A chart's plot area in pixels: Plotly's own measure once drawn, else the element less the default margins.
  const plotWidth = (el) => el._fullLayout?._size?.w || Math.max(el.clientWidth - 80, 200);

  function wireFilters(form) {
    const range = form.querySelector("[name=range]");
    const custom = form.querySelectorAll(".custom input");
    const site = form.querySelector("[name=site]");
    const hall = form.querySelector("[name=hall]");
    const syncCustom = () => custom.forEach((i) => (i.disabled = range.value !== ""));
    range.addEventListener("change", () => { syncCustom(); if (range.value) form.requestSubmit(); });
    site.addEventListener("change", () => { if (hall.selectedOptions[0]?.dataset.site !== site.value) hall.value = ""; form.requestSubmit(); });
    hall.addEventListener("change", () => form.requestSubmit());
    // The charts' plot width goes with the filters: the server reads the resolution that fills it.
    const width = form.querySelector("[name=width]");
    const chart = document.querySelector("[data-figure]");
    if (width && chart) width.value = String(Math.round(plotWidth(chart)));
    // Empty parameters stay out of the URL so shared links are short.
    form.addEventListener("formdata", (e) => { for (const [k, v] of [...e.formData]) if (v === "") e.formData.delete(k); });
    syncCustom();
  }

  // Pages that swap in new HTML (the scenario editor's live preview) render its charts with this.
  window.headroomRenderCharts = (root) => root.querySelectorAll("[data-figure]").forEach(render);

  document.addEventListener("DOMContentLoaded", () => {
    window.headroomRenderCharts(document);
    document.querySelectorAll("form[data-autosubmit]").forEach(wireFilters);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (window.Plotly) document.querySelectorAll("[data-figure]").forEach((el) => { Plotly.purge(el); render(el); });
    });
  });
})();
