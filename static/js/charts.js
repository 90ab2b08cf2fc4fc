// Renders every [data-figure] element with the locally served plotly.js.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-figure]")) {
    const fig = JSON.parse(el.dataset.figure);
    el.innerHTML = "";
    Plotly.newPlot(el, fig.data, fig.layout, { responsive: true, displaylogo: false })
      .then(() => el.setAttribute("data-rendered", "true"));
  }
});
