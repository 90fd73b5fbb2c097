// The live trace view, newest on top. htmx's websocket extension holds the socket (#trace-socket: it
// connects, and reconnects with backoff); this script reads its JSON messages. Rows and the status
// line come rendered by the server, from the templates the page itself is made of.
// Every log carries its seq: a jump means the channel layer dropped something, and the page fills the
// gap from the database (the trace's rows after a seq) before showing anything newer; the socket's
// periodic sync tells the trace's last seq, so a lost last push is filled too.
// Pause, Clear and the filter change this view only; the trace and its logs are untouched.
(() => {
  "use strict";
  const state = JSON.parse(document.getElementById("trace-state").textContent);
  const panel = document.getElementById("trace-panel");
  const socket = document.getElementById("trace-socket");
  const tbody = document.getElementById("trace-rows");
  const statusLine = document.getElementById("trace-status");
  const filter = document.getElementById("trace-filter");
  const pauseButton = document.getElementById("pause-logs");
  const heldCount = document.getElementById("held-count");
  const startForm = document.getElementById("start-trace");
  const extendForm = document.getElementById("extend-trace");
  const stopForm = document.getElementById("stop-trace");
  const MAX_ROWS = 1000;  // the display keeps the newest; everything stays browsable and downloadable
  const RETRIED_BY_HTMX = [1006, 1011, 1012, 1013];  // the close codes the extension reconnects after
  const ACCESS_LOST = 4403;

  let trace = state.trace;        // the trace being followed, or null
  let lastSeq = state.lastSeq;    // every log up to this seq has been handled
  let filling = false;
  let held = [];                  // logs that arrived while a gap was being filled
  let gapsFilled = 0;
  let paused = [];                // rows that arrived while paused, oldest first
  let opened = false;

  // --- rows ---------------------------------------------------------------------------------------
  function parseRows(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return Array.from(template.content.querySelectorAll("tr[data-seq]"));
  }

  function matches(row) {
    const method = filter.elements.method.value.trim().toLowerCase();
    const outcome = filter.elements.outcome.value;
    return (!method || row.dataset.method.toLowerCase().includes(method)) && (!outcome || row.dataset.outcome === outcome);
  }

  function settle() {  // after rows came or went: the cap, and which empty state (if any) shows
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
    if (paused.length > MAX_ROWS) paused = paused.slice(-MAX_ROWS);
    const rows = Array.from(tbody.rows);
    panel.dataset.rows = !rows.length ? "none" : rows.some((row) => !row.hidden) ? "shown" : "filtered";
  }

  function show(row) {  // rows come in seq order
    const seq = Number(row.dataset.seq);
    if (seq <= lastSeq) return;  // already shown (a fill and a push can overlap)
    lastSeq = seq;
    window.portalTimes.localize(row);
    row.hidden = !matches(row);
    row.classList.add("fresh");
    if (panel.dataset.paused === "true") {
      paused.push(row);
      heldCount.textContent = String(Number(heldCount.textContent) + 1);
    } else {
      tbody.prepend(row);
    }
  }

  // --- seq and gaps -------------------------------------------------------------------------------
  async function fetchRows(after) {
    try {
      const response = await fetch(`${state.rowsUrl.replace("{id}", trace.id)}?after=${after}`,
                                   {credentials: "same-origin"});
      return response.ok ? parseRows(await response.text()) : [];
    } catch (error) {
      return [];  // unreachable now: those logs stay browsable under the trace
    }
  }

  async function fill(upTo) {
    filling = true;
    while (lastSeq < upTo) {
      const rows = await fetchRows(lastSeq);
      if (!rows.length) break;
      rows.forEach(show);
    }
    // what the database no longer has (dropped by the cap) is gone: do not ask again
    lastSeq = Math.max(lastSeq, upTo);
    gapsFilled += 1;
    panel.dataset.gapsFilled = gapsFilled;
    filling = false;
    settle();
    const later = held;
    held = [];
    if (later.length) accept(trace.id, later);
  }

  function accept(traceId, logs) {
    if (!trace || trace.id !== traceId) {
      // a trace this page has not heard start (its start was lost): follow it; the sync brings its status
      follow({id: traceId, active: true, lastSeq: 0}, null);
    }
    if (filling) { held.push(...logs); return; }
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i];
      if (log.seq <= lastSeq) continue;
      if (log.seq > lastSeq + 1) {
        held.push(...logs.slice(i));
        fill(log.seq - 1);
        return;
      }
      parseRows(log.html).forEach(show);
    }
    settle();
  }

  // --- the trace's state --------------------------------------------------------------------------
  function setStatus(html) {
    if (html === null || html === undefined) return;
    statusLine.innerHTML = html;  // rendered (and escaped) by the server's template
    window.portalTimes.localize(statusLine);
  }

  function setAction(form, id) {
    if (form) form.action = form.dataset.action.replace("/0/", `/${id}/`);
  }

  function follow(next, status) {
    if (!trace || trace.id !== next.id) lastSeq = 0;
    trace = next;
    setStatus(status);
    if (next.active === false) { ended(null); return; }
    panel.dataset.trace = "active";
    if (startForm) { startForm.hidden = true; startForm.open = false; }
    if (extendForm) { extendForm.hidden = false; setAction(extendForm.querySelector("form"), next.id); }
    if (stopForm) { stopForm.hidden = false; setAction(stopForm, next.id); }
  }

  function ended(status) {
    setStatus(status);
    panel.dataset.trace = "ended";
    if (startForm) startForm.hidden = false;
    if (extendForm) { extendForm.hidden = true; extendForm.open = false; }
    if (stopForm) stopForm.hidden = true;
  }

  function onEvent(event) {
    switch (event.type) {
      case "hello":
        if (event.trace && event.trace.active) {
          follow(event.trace, event.status);
          if (event.trace.lastSeq > lastSeq && !filling) fill(event.trace.lastSeq);
        } else if (trace && trace.active !== false) {  // it ended while the socket was away
          trace = event.trace && event.trace.id === trace.id ? event.trace : {...trace, active: false};
          ended(event.status);
        }
        break;
      case "sync":  // where the trace stands: a lost last push leaves no gap to notice otherwise
        if (trace && event.trace.id === trace.id && event.trace.lastSeq > lastSeq && !filling) fill(event.trace.lastSeq);
        break;
      case "started": follow(event.trace, event.status); break;
      case "extended": if (trace && trace.id === event.trace.id) follow(event.trace, event.status); break;
      case "ended": if (!trace || trace.id === event.trace.id) { trace = event.trace; ended(event.status); } break;
      case "logs": accept(event.trace, event.logs); break;
      case "access_lost": setStatus(event.status); disconnect(); break;
    }
  }

  // --- the socket (htmx's websocket extension) ----------------------------------------------------
  function disconnect() {
    panel.dataset.live = "closed";
    socket.remove();  // the extension neither reads nor reconnects a socket whose element is gone
  }

  socket.addEventListener("htmx:wsConnecting", () => { panel.dataset.live = opened ? "reconnecting" : "connecting"; });
  socket.addEventListener("htmx:wsOpen", () => { opened = true; panel.dataset.live = "open"; });
  socket.addEventListener("htmx:wsClose", (event) => {
    const code = event.detail.event.code;
    if (code === ACCESS_LOST || !socket.isConnected) { disconnect(); return; }
    panel.dataset.live = "reconnecting";
    // a clean close (a server restarting) is not one the extension retries: once now, then its backoff
    if (!RETRIED_BY_HTMX.includes(code)) event.detail.socketWrapper.reconnect();
  });
  socket.addEventListener("htmx:wsBeforeMessage", (event) => {
    event.preventDefault();  // JSON, handled here: nothing for htmx to swap
    onEvent(JSON.parse(event.detail.message));
  });

  // --- the view's own controls --------------------------------------------------------------------
  filter.addEventListener("submit", (event) => event.preventDefault());
  filter.addEventListener("input", () => {
    Array.from(tbody.rows).forEach((row) => { row.hidden = !matches(row); });
    paused.forEach((row) => { row.hidden = !matches(row); });
    settle();
  });

  pauseButton.addEventListener("click", () => {
    const pausing = panel.dataset.paused !== "true";
    panel.dataset.paused = String(pausing);
    pauseButton.setAttribute("aria-pressed", String(pausing));
    if (!pausing) {
      paused.forEach((row) => tbody.prepend(row));
      paused = [];
      heldCount.textContent = "0";
      settle();
    }
  });

  document.getElementById("clear-logs").addEventListener("click", () => {
    tbody.replaceChildren();
    paused = [];
    heldCount.textContent = "0";
    settle();
  });

  if (trace) follow(trace, null);
  settle();
})();
