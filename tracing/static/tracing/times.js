// The tracing pages' times in the browser's time zone, the zone named. The server renders each time
// as <time datetime="…"> with its UTC text and each time column's header "(UTC)": without this
// script the page stays right, in UTC. data-time-format: "log" (to the millisecond), "table" (to the
// second; the column header names the zone), "datetime" (to the second, followed by the zone).
(() => {
  "use strict";
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const format = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23",
  });

  function stamp(date, millis) {
    const part = Object.fromEntries(format.formatToParts(date).map(({type, value}) => [type, value]));
    const text = `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}:${part.second}`;
    return millis ? `${text}.${part.fractionalSecond}` : text;
  }

  function localize(root) {
    root.querySelectorAll("time[datetime][data-time-format]").forEach((element) => {
      const date = new Date(element.dateTime);
      if (Number.isNaN(date.getTime())) return;
      const kind = element.dataset.timeFormat;
      element.textContent = kind === "log" ? stamp(date, true) : kind === "datetime" ? `${stamp(date, false)} ${zone}` : stamp(date, false);
    });
    root.querySelectorAll(".zone-name").forEach((element) => { element.textContent = `(${zone})`; });
  }

  window.tracingTimes = {localize, zone};
  localize(document);
})();
