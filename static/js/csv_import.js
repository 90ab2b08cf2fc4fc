// Follows a CSV import: polls its progress endpoint and reloads the page once it has finished.
(function () {
  const box = document.getElementById("csv-import");
  if (!box) return;
  const set = (id, value) => { document.getElementById(id).textContent = value; };
  async function poll() {
    const response = await fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const p = await response.json();
    set("import-status", p.status);
    set("import-rows", p.rows_done || 0);
    set("import-accepted", p.accepted || 0);
    set("import-duplicate", p.duplicate || 0);
    set("import-rejected", p.rejected || 0);
    const bar = document.getElementById("import-progress");
    if (p.bytes_total) { bar.max = p.bytes_total; bar.value = p.bytes_done || 0; }
    if (p.status === "done" || p.status === "failed") window.location.reload();
    else setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
