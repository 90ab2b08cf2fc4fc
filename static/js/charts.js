// Renders every [data-figure] element with the locally served plotly.js, marks it data-rendered="true"
// (the browser tests wait for that), shows an empty state when a figure has no points, and follows the
// colour scheme. Also wires the filter bar: changing a control reloads with the new query string.
(() => {
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
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
    const fig = JSON.parse(el.dataset.figure);
    const layout = Object.assign({}, fig.layout || {});
    if (dark) {
      Object.assign(layout, { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: Object.assign({}, layout.font, { color: "#e6edf3" }) });
      delete layout.template;
    }
    el.innerHTML = "";
    const empty = !(fig.data || []).some((t) => points(t) > 0);
    return Plotly.newPlot(el, fig.data || [], layout, { responsive: true, displaylogo: false }).then(() => {
      el.setAttribute("data-rendered", "true");
      el.setAttribute("data-points", String((fig.data || []).reduce((n, t) => n + points(t), 0)));
      if (empty) {
        const note = document.createElement("p");
        note.className = "chart-empty";
        note.textContent = "No data for this range and selection.";
        el.prepend(note);
      }
    });
  }

  function wireFilters(form) {
    const range = form.querySelector("[name=range]");
    const custom = form.querySelectorAll(".custom input");
    const site = form.querySelector("[name=site]");
    const hall = form.querySelector("[name=hall]");
    const syncCustom = () => custom.forEach((i) => (i.disabled = range.value !== ""));
    range.addEventListener("change", () => { syncCustom(); if (range.value) form.requestSubmit(); });
    site.addEventListener("change", () => { if (hall.selectedOptions[0]?.dataset.site !== site.value) hall.value = ""; form.requestSubmit(); });
    hall.addEventListener("change", () => form.requestSubmit());
    // Empty parameters stay out of the URL so shared links are short.
    form.addEventListener("formdata", (e) => { for (const [k, v] of [...e.formData]) if (v === "") e.formData.delete(k); });
    syncCustom();
  }

  // Pages that swap in new HTML (the scenario editor's live preview) render its charts with this.
  window.headroomRenderCharts = (root) => root.querySelectorAll("[data-figure]").forEach(render);

  document.addEventListener("DOMContentLoaded", () => {
    window.headroomRenderCharts(document);
    document.querySelectorAll("form[data-autosubmit]").forEach(wireFilters);
  });
})();
