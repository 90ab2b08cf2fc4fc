// Scenario editor: as the user types, post the unsaved form to the preview URL and swap in the results.
(() => {
  const form = document.querySelector("form[data-live-preview]");
  const target = document.getElementById("live-results");
  if (!form || !target) return;
  let timer = null;
  let latest = 0;
  const refresh = async () => {
    const ask = ++latest;
    target.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.dataset.livePreview, { method: "POST", body: new FormData(form) });
      if (ask !== latest) return; // a newer edit is on its way
      target.innerHTML = await response.text();
      window.headroomRenderCharts(target);
    } finally {
      if (ask === latest) target.removeAttribute("aria-busy");
    }
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, 600); };
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
