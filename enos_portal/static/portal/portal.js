// Copy buttons: <button class="copy" data-copy="#element-id">
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  const done = () => {
    button.textContent = gettext("Copied");
    setTimeout(() => { button.textContent = gettext("Copy"); }, 1500);
  };
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

// The migrate dialog (htmx swaps it into #migrate-dialog, inside a .migrate-backdrop): Esc or a click on the
// backdrop closes it, as its Cancel does. The page behind does not scroll while it is open.
function syncDialog(focus) {
  const backdrop = document.querySelector(".migrate-backdrop");
  document.body.classList.toggle("has-dialog", Boolean(backdrop));
  if (focus && backdrop && !backdrop.contains(document.activeElement)) {
    // the field the step asks for (target OU ID, code), else its first button
    const first = backdrop.querySelector("input:not([type=hidden]):not([type=radio]):not([type=checkbox]), button");
    if (first) first.focus();
  }
}

function closeDialog(backdrop) {
  backdrop.parentElement.replaceChildren();
  syncDialog(false);
}

function closeRowMenus(except) {
  document.querySelectorAll("details.row-more[open]").forEach((menu) => { if (menu !== except) menu.open = false; });
}

// a new step of the dialog takes the focus; other swaps (the SMS delivery line's polling) leave it where it is
document.addEventListener("htmx:afterSettle", (event) => {
  syncDialog(event.detail && event.detail.target && event.detail.target.id === "migrate-dialog");
});

// a click that starts in the dialog and ends on the backdrop (selecting text) does not close it
let pressedOn = null;
document.addEventListener("mousedown", (event) => { pressedOn = event.target; });
document.addEventListener("click", (event) => {
  const backdrop = event.target.closest(".migrate-backdrop");
  if (backdrop && event.target === backdrop && pressedOn === backdrop) closeDialog(backdrop);
  if (event.target.closest("button[data-empties]")) syncDialog(false);
  // the row's "…" menu: closes when one of its actions is chosen, or on a click anywhere else
  const menu = event.target.closest("details.row-more");
  closeRowMenus(menu && !event.target.closest(".menu a") ? menu : null);
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const backdrop = document.querySelector(".migrate-backdrop");
  if (backdrop) {
    closeDialog(backdrop);
  } else {
    closeRowMenus(null);
  }
});

// <button data-shows-template="TEMPLATE-ID" data-into="SELECTOR">: puts a copy of the <template>'s content
// into SELECTOR (Hide on a revealed secret puts the masked one back) and lets htmx wire it.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-shows-template]");
  if (!button) return;
  const template = document.getElementById(button.dataset.showsTemplate);
  const target = document.querySelector(button.dataset.into);
  if (!template || !target) return;
  target.replaceChildren(template.content.cloneNode(true));
  if (window.htmx) window.htmx.process(target);
});
