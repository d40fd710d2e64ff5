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
  var months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December"];

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
    var text = parseInt(local.day, 10) + " " + months[parseInt(local.month, 10) - 1] + " " + local.year + ", " +
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
  if (name) { name.textContent = zone + " (your browser's zone)"; }
}());
