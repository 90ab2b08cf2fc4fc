// Copy buttons: <button type="button" data-copy="input-id"> copies that input's value and says so in the
// page's [role=status] element. Falls back to selecting the text where the Clipboard API is unavailable.
document.addEventListener("DOMContentLoaded", () => {
  const status = document.querySelector(".copy-status");
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      const label = input.labels[0].textContent;
      try {
        await navigator.clipboard.writeText(input.value);
        status.textContent = `${label} copied to the clipboard.`;
      } catch {
        input.focus();
        input.select();
        status.textContent = `${label} selected: press Ctrl+C (⌘C) to copy it.`;
      }
    });
  });
});
