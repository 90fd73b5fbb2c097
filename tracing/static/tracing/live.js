// The live trace view: logs pushed over the websocket, newest on top. Every log carries its seq;
// a jump in seq means the channel layer dropped something, and the page fills the gap from the
// database (the logs API) before showing anything newer. Device text goes in with textContent only.
(() => {
  "use strict";
  const state = JSON.parse(document.getElementById("trace-state").textContent);
  const panel = document.getElementById("trace-panel");
  const tbody = document.querySelector("#trace-logs tbody");
  const statusLine = document.getElementById("trace-status");
  const startForm = document.getElementById("start-trace");
  const extendForm = document.getElementById("extend-trace");
  const stopForm = document.getElementById("stop-trace");
  const MAX_ROWS = 1000;  // the display keeps the newest; everything stays browsable and downloadable

  let trace = state.trace;        // the trace being followed, or null
  let lastSeq = state.lastSeq;    // every log up to this seq has been handled
  let filling = false;
  let held = [];                  // logs that arrived while a gap was being filled
  let gapsFilled = 0;
  let expiryTimer = null;
  let retries = 0;
  let finished = false;           // access lost: no reconnecting

  const REASONS = {stopped: "stopped", expired: "expired", deleted: "ended: the device was deleted",
                   migrated: "ended: the device was migrated to another OU"};

  function shortTime(iso) { return iso ? iso.replace("T", " ").replace("Z", "").slice(0, 23) : ""; }

  function cell(tr, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text === null || text === undefined ? "" : String(text);
    tr.appendChild(td);
    return td;
  }

  function logRow(log) {
    const tr = document.createElement("tr");
    tr.className = `log ${log.outcome} fresh`;
    tr.dataset.seq = log.seq;
    cell(tr, shortTime(log.time), "mono small");
    cell(tr, log.direction === "up" ? "↑ up" : log.direction === "down" ? "↓ down" : "");
    cell(tr, log.method, "mono");
    const result = cell(tr, "");
    const badge = document.createElement("span");
    badge.className = `outcome ${log.outcome}`;
    badge.textContent = log.outcome;
    result.appendChild(badge);
    cell(tr, log.code, "mono");
    cell(tr, log.message);
    const payload = cell(tr, "");
    if (log.payload !== null && log.payload !== undefined) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = "payload";
      const pre = document.createElement("pre");
      pre.className = "mono small";
      pre.textContent = JSON.stringify(log.payload, null, 1);
      details.append(summary, pre);
      payload.appendChild(details);
    }
    return tr;
  }

  function show(log) {
    if (log.seq <= lastSeq) return;  // already shown (a refill and a push can overlap)
    tbody.prepend(logRow(log));
    lastSeq = log.seq;
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
  }

  function logsUrl(after) { return `${state.logsUrl.replace("{id}", trace.id)}?after=${after}&limit=500`; }

  async function fill(upTo) {
    filling = true;
    try {
      while (lastSeq < upTo) {
        const response = await fetch(logsUrl(lastSeq), {credentials: "same-origin", headers: {Accept: "application/json"}});
        if (!response.ok) break;
        const page = await response.json();
        page.results.forEach(show);
        if (!page.next) break;
      }
      // what the database no longer has (dropped by the cap) is gone: do not ask again
      lastSeq = Math.max(lastSeq, upTo);
      gapsFilled += 1;
      panel.dataset.gapsFilled = gapsFilled;
    } finally {
      filling = false;
      const later = held;
      held = [];
      if (later.length) accept(trace.id, later);
    }
  }

  function accept(traceId, logs) {
    if (!trace || trace.id !== traceId) {
      // a trace this page has not heard start (it began while the socket reconnected): follow it
      follow({id: traceId, active: true, lastSeq: 0, expiresAt: null});
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
      show(log);
    }
  }

  function setAction(form, id) {
    if (!form) return;
    const target = form.tagName === "FORM" ? form : form.querySelector("form");
    target.action = target.dataset.action.replace("/0/", `/${id}/`);
  }

  function follow(next) {
    if (!trace || trace.id !== next.id) lastSeq = 0;
    trace = next;
    if (next.active === false) { ended(next); return; }
    statusLine.textContent = `Tracing${next.startedBy ? ` (started by ${next.startedBy})` : ""}` +
      (next.expiresAt ? `; records until ${shortTime(next.expiresAt).slice(0, 19)} UTC.` : ".");
    if (startForm) { startForm.hidden = true; startForm.open = false; }
    if (extendForm) { extendForm.hidden = false; setAction(extendForm, next.id); }
    if (stopForm) { stopForm.hidden = false; setAction(stopForm, next.id); }
    panel.dataset.trace = "active";
    clearTimeout(expiryTimer);
    if (next.expiresAt) {
      // the page knows the end itself: no worker needs to tell it
      const left = Date.parse(next.expiresAt) - Date.now();
      expiryTimer = setTimeout(() => ended({...next, stopReason: "expired", stoppedAt: next.expiresAt}), Math.max(0, left));
    }
  }

  function ended(last) {
    clearTimeout(expiryTimer);
    const why = REASONS[last.stopReason] || "ended";
    statusLine.textContent = `The message trace ${why}${last.stoppedAt ? ` at ${shortTime(last.stoppedAt).slice(0, 19)} UTC` : ""}. Its logs stay under Past traces.`;
    if (startForm) startForm.hidden = false;
    if (extendForm) { extendForm.hidden = true; extendForm.open = false; }
    if (stopForm) stopForm.hidden = true;
    panel.dataset.trace = "ended";
  }

  function onEvent(event) {
    switch (event.type) {
      case "hello":
        panel.dataset.live = "open";
        if (event.trace && event.trace.active) {
          follow(event.trace);
          if (event.trace.lastSeq > lastSeq && !filling) fill(event.trace.lastSeq);
        } else if (trace && trace.active !== false) {
          ended(event.trace && event.trace.id === trace.id ? event.trace : {...trace, stopReason: null});
        }
        break;
      case "sync":  // where the trace stands: a lost last push leaves no gap to notice otherwise
        if (trace && event.trace.id === trace.id && event.trace.lastSeq > lastSeq && !filling) fill(event.trace.lastSeq);
        break;
      case "started": follow(event.trace); break;
      case "extended": if (trace && trace.id === event.trace.id) follow(event.trace); break;
      case "ended": if (!trace || trace.id === event.trace.id) { trace = event.trace; ended(event.trace); } break;
      case "logs": accept(event.trace, event.logs); break;
      case "access_lost":
        finished = true;
        statusLine.textContent = "You no longer have access to this device.";
        panel.dataset.live = "closed";
        break;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + state.wsPath);
    socket.onmessage = (message) => { retries = 0; onEvent(JSON.parse(message.data)); };
    socket.onclose = (closing) => {
      if (finished || closing.code === 4403) { panel.dataset.live = "closed"; return; }
      panel.dataset.live = "reconnecting";
      retries += 1;
      setTimeout(connect, Math.min(10000, 500 * 2 ** Math.min(retries, 5)));
    };
  }

  document.getElementById("clear-logs").addEventListener("click", () => {
    tbody.replaceChildren();  // the display only: the trace and its logs are untouched
  });

  if (trace) follow(trace);
  connect();
})();
