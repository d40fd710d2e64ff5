/* Times in the reader's own zone.
 *
 * The server writes every time in the member's forum zone (or the site's) with UTC beside it.
 * A member who set no zone on the forum gets <time data-local> elements: this script rewrites
 * them in the browser's zone, still with UTC beside it, and names that zone in the footer.
 * Without JavaScript the server's text stays, which is correct too.
 */
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  // The page's language (<html lang>): its month names, and "2. Mai" where German puts a dot.
  var lang = document.documentElement.lang || "en";
  var months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December"];
  if (lang !== "en") {
    try {
      var monthName = new Intl.DateTimeFormat(lang, {month: "long", timeZone: "UTC"});
      months = months.map(function (_, i) { return monthName.format(new Date(Date.UTC(2000, i, 15))); });
    } catch (e) { /* keep English names */ }
  }
  var dayDot = lang === "de" ? "." : "";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function parts(date, timeZone) {
    var fmt = new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone, year: "numeric", month: "numeric", day: "numeric", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
    });
    var out = {};
    fmt.formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }

  function render(date) {
    var local = parts(date, zone);
    var text = parseInt(local.day, 10) + dayDot + " " + months[parseInt(local.month, 10) - 1] + " " + local.year + ", " +
      local.hour + ":" + local.minute + " " + local.timeZoneName;
    var utc = pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes());
    if (local.hour + ":" + local.minute !== utc || parseInt(local.day, 10) !== date.getUTCDate()) {
      text += " (" + utc + " UTC)";
    }
    return text;
  }

  var times = document.querySelectorAll("time[data-local]");
  Array.prototype.forEach.call(times, function (el) {
    var date = new Date(el.getAttribute("datetime"));
    if (isNaN(date.getTime())) { return; }
    el.textContent = render(date);
    el.setAttribute("title", date.toISOString().replace(".000Z", "Z"));
  });
  var name = document.getElementById("display-zone");
  var label = document.getElementById("browser-zone-label");
  var pattern = (label && label.getAttribute("data-text")) || "{zone} (your browser's zone)";
  if (name) { name.textContent = pattern.replace("{zone}", zone); }
}());
