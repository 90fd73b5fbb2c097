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

// The modal dialogs htmx swaps into #migrate-dialog (Migrate, the delete confirmation): a <dialog class=
// "migrate-backdrop"> opened with showModal, so the page behind is inert and does not scroll. The focus moves
// into it (the field the step asks for), Tab and Shift+Tab stay inside it, and Esc, Cancel or a click on the
// backdrop close it and give the focus back to what opened it (the row's "…" menu for one of its actions).
let dialogOpener = null;

function focusablesIn(root) {
  return [...root.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]")].filter(
    (element) => !element.disabled && element.type !== "hidden" && element.tabIndex >= 0
      && element.getClientRects().length > 0);
}

function syncDialog(focus) {
  const backdrop = document.querySelector(".migrate-backdrop");
  document.body.classList.toggle("has-dialog", Boolean(backdrop));
  if (!backdrop) return;
  if (backdrop.showModal && !backdrop.open) backdrop.showModal();
  if (focus) {
    // the control marked autofocus (a confirmation's Cancel), the field the step asks for (target OU ID, code),
    // else its first button
    const first = backdrop.querySelector("[autofocus]")
      || backdrop.querySelector("input:not([type=hidden]):not([type=radio]):not([type=checkbox]), button");
    if (first) first.focus();
  }
}

function giveFocusBack() {
  const opener = dialogOpener;
  dialogOpener = null;
  if (!opener || !opener.isConnected) return;
  const menu = opener.closest("details.row-more");
  const target = menu && !menu.open ? menu.querySelector("summary") : opener;
  if (target) target.focus();
}

function closeDialog(backdrop) {
  backdrop.parentElement.replaceChildren();
  syncDialog(false);
  giveFocusBack();
}

function closeRowMenus(except) {
  document.querySelectorAll("details.row-more[open]").forEach((menu) => { if (menu !== except) menu.open = false; });
}

// what had the focus when a dialog (or the New Sub-device picker, #candidates) was asked for gets it back when
// it closes
const DIALOG_HOLDERS = ["migrate-dialog", "candidates"];
document.addEventListener("htmx:beforeRequest", (event) => {
  const target = event.detail && event.detail.target;
  if (target && DIALOG_HOLDERS.includes(target.id) && !target.hasChildNodes()) {
    dialogOpener = document.activeElement;
  }
});

// a new step of the dialog takes the focus; other swaps (the SMS delivery line's polling) leave it where it is.
// The New Sub-device picker: the focus goes to its search (and stays there while a search reloads the list).
document.addEventListener("htmx:afterSettle", (event) => {
  const target = event.detail && event.detail.target;
  syncDialog(target && target.id === "migrate-dialog");
  if (target && target.id === "candidates" && !target.contains(document.activeElement)) {
    const search = target.querySelector("input[type=search]");
    if (search) search.focus();
  }
});

// a click that starts in the dialog and ends on the backdrop (selecting text) does not close it
let pressedOn = null;
document.addEventListener("mousedown", (event) => { pressedOn = event.target; });
document.addEventListener("click", (event) => {
  const backdrop = event.target.closest(".migrate-backdrop");
  if (backdrop && event.target === backdrop && pressedOn === backdrop) closeDialog(backdrop);
  if (event.target.closest("button[data-empties]")) {
    syncDialog(false);
    giveFocusBack();
  }
  // the row's "…" menu: closes when one of its actions is chosen, or on a click anywhere else
  const menu = event.target.closest("details.row-more");
  closeRowMenus(menu && !event.target.closest(".menu a") ? menu : null);
});

// the browser's own Esc on a modal dialog: closed our way (removed, focus given back)
document.addEventListener("cancel", (event) => {
  if (!event.target.matches || !event.target.matches(".migrate-backdrop")) return;
  event.preventDefault();
  closeDialog(event.target);
}, true);

document.addEventListener("keydown", (event) => {
  const backdrop = document.querySelector(".migrate-backdrop");
  if (event.key === "Escape") {
    if (backdrop) {
      event.preventDefault();
      closeDialog(backdrop);
      return;
    }
    // Esc in a row menu closes it and puts the focus back on its "…"
    const menu = document.activeElement && document.activeElement.closest("details.row-more[open]");
    closeRowMenus(null);
    if (menu) menu.querySelector("summary").focus();
    return;
  }
  if (event.key === "Tab" && backdrop) {
    // Tab and Shift+Tab go round the dialog's controls, never out to the page or the browser
    const controls = focusablesIn(backdrop);
    if (!controls.length) return;
    const first = controls[0], last = controls[controls.length - 1];
    const inside = backdrop.contains(document.activeElement);
    if (event.shiftKey && (!inside || document.activeElement === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
    return;
  }
  // the row's "…" menu: Down/Up move through its actions (Tab does too), from the "…" into the open menu
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const menu = document.activeElement && document.activeElement.closest("details.row-more[open]");
    if (!menu) return;
    const items = [...menu.querySelectorAll(".menu a")];
    const at = items.indexOf(document.activeElement);
    const step = event.key === "ArrowDown" ? 1 : -1;
    const next = at < 0 ? (step > 0 ? 0 : items.length - 1) : (at + step + items.length) % items.length;
    event.preventDefault();
    items[next].focus();
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

// A table too wide for its box scrolls inside it (.table-scroll): keyboard users reach such a box with Tab and
// scroll it with the arrow keys. Only the boxes that scroll now take a tab stop (a phone's, not a wide screen's).
function focusScrollers() {
  document.querySelectorAll(".table-scroll").forEach((box) => {
    if (box.scrollWidth > box.clientWidth) {
      box.tabIndex = 0;
    } else {
      box.removeAttribute("tabindex");
    }
  });
}
document.addEventListener("DOMContentLoaded", focusScrollers);
document.addEventListener("htmx:afterSettle", focusScrollers);
window.addEventListener("resize", focusScrollers);
