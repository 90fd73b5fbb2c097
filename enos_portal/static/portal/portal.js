// Copy buttons: <button class="copy" data-copy="#element-id">
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
});

function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
  done();
}

// Behaviours templates ask for with data attributes: no inline handlers under the Content-Security-Policy.
// <select data-submit-on-change>: submits its form when the choice changes (the OU switcher, the device
// filters). requestSubmit fires the submit event, so an htmx form (hx-trigger="submit") stays in the page.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-submit-on-change]");
  if (select && select.form) select.form.requestSubmit();
});

// <input type="checkbox" data-checks-all="SELECTOR">: checks or unchecks every box SELECTOR finds.
document.addEventListener("click", (event) => {
  const master = event.target.closest("input[type=checkbox][data-checks-all]");
  if (!master) return;
  document.querySelectorAll(master.dataset.checksAll).forEach((box) => { box.checked = master.checked; });
});

// <button data-empties="SELECTOR">: empties the element SELECTOR finds (closes an htmx-loaded dialog).
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-empties]");
  if (!button) return;
  const target = document.querySelector(button.dataset.empties);
  if (target) target.replaceChildren();
});
