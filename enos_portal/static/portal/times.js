// Times in the user's time zone, the zone named (accounts/time_zones.py renders them on the server).
// 1. Tells the server the browser's zone: the `tz` cookie, read by accounts.middleware.TimeZoneMiddleware
//    for users without a zone in their profile.
// 2. Where the server rendered in another zone than the one wanted (the very first page of a browser,
//    before the cookie existed: UTC), rewrites each <time datetime data-time-format> and each
//    .zone-name header the way the server would have: the profile's zone (<body data-time-zone>)
//    when set there, else the browser's.
// data-time-format: "datetime" (to the second, zone named after it), "table" and "log" (to the second or
// millisecond; the column header names the zone), "time" (the clock time, zone named).
(() => {
  "use strict";
  const COOKIE = "tz";
  const body = document.body;
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const renderedZone = body.dataset.timeZone || "UTC";
  const zone = body.dataset.timeZoneSource === "profile" ? renderedZone : browserZone;

  const cookie = document.cookie.split("; ").find((item) => item.startsWith(`${COOKIE}=`));
  if (!cookie || decodeURIComponent(cookie.slice(COOKIE.length + 1)) !== browserZone) {
    document.cookie = `${COOKIE}=${encodeURIComponent(browserZone)}; path=/; max-age=31536000; SameSite=Lax`;
  }

  let format;
  try {
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23", timeZoneName: "longOffset",
    });
  } catch (error) {
    format = null;  // a zone this browser does not know: the server's text stands
  }

  function text(date, kind) {
    const part = Object.fromEntries(format.formatToParts(date).map(({type, value}) => [type, value]));
    const day = `${part.year}-${part.month}-${part.day}`;
    const clock = `${part.hour}:${part.minute}:${part.second}`;
    const offset = (part.timeZoneName || "GMT").replace("GMT", "") || "+00:00";
    const shown = kind === "log" ? `${day} ${clock}.${part.fractionalSecond}`
      : kind === "time" ? `${clock} ${zone}`
      : kind === "table" ? `${day} ${clock}` : `${day} ${clock} ${zone}`;
    return {shown, title: `${zone} (UTC${offset})`};
  }

  function localize(root) {
    if (!format || zone === renderedZone || !root || !root.querySelectorAll) return;
    const times = Array.from(root.querySelectorAll("time[datetime][data-time-format]"));
    if (root.matches && root.matches("time[datetime][data-time-format]")) times.push(root);
    times.forEach((element) => {
      const date = new Date(element.dateTime);
      if (Number.isNaN(date.getTime())) return;
      const {shown, title} = text(date, element.dataset.timeFormat);
      element.textContent = shown;
      element.title = title;
    });
    root.querySelectorAll(".zone-name").forEach((element) => { element.textContent = `(${zone})`; });
  }

  window.portalTimes = {localize, zone};
  localize(document);
  document.addEventListener("htmx:load", (event) => localize(event.detail.elt));
})();
