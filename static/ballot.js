/* Ranked ballot: progressive enhancement of the plain rank-number form.
 *
 * Without JavaScript the form works as is (a rank select per option). With it, options can be
 * reordered by drag and drop, or by keyboard with the Up/Down/Rank buttons (or Alt+Arrow keys on
 * a focused option), and every move is announced to screen readers. The rank selects stay the
 * single source of truth that is submitted.
 */
import { pageText } from "./page-text.js";

(function () {
  "use strict";
  var form = document.getElementById("ballot-form");
  if (!form) { return; }
  document.documentElement.classList.add("js");
  var list = document.getElementById("ballot-list");
  if (!list) { return; }
  var live = document.getElementById("ballot-live");
  var dragged = null;
  var t = pageText(form);  // the page's words for what this script writes

  function items() { return Array.prototype.slice.call(list.querySelectorAll(".ballot-item")); }
  function select(li) { return li.querySelector("select.rank-input"); }
  function label(li) { return li.getAttribute("data-label"); }
  function ranked() { return items().filter(function (li) { return li.getAttribute("data-ranked") === "yes"; }); }

  function announce(text) {
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 30);
  }

  function rankValue(li) {
    var v = select(li).value;
    return v ? parseInt(v, 10) : null;
  }

  /* Show ranked options first, in rank order; unranked after them, in the order shown before. */
  function sortFromSelects() {
    var all = items();
    all.forEach(function (li, i) { li.setAttribute("data-pos", String(i)); });
    all.sort(function (a, b) {
      var ra = rankValue(a), rb = rankValue(b);
      if (ra !== null && rb !== null && ra !== rb) { return ra - rb; }
      if (ra !== null && rb === null) { return -1; }
      if (ra === null && rb !== null) { return 1; }
      return parseInt(a.getAttribute("data-pos"), 10) - parseInt(b.getAttribute("data-pos"), 10);
    });
    all.forEach(function (li) {
      li.setAttribute("data-ranked", rankValue(li) !== null ? "yes" : "no");
      list.appendChild(li);
    });
    refresh();
  }

  /* Number the ranked options 1..k in their shown order and clear the rest. */
  function writeRanks() {
    var r = 0;
    items().forEach(function (li) {
      if (li.getAttribute("data-ranked") === "yes") { r += 1; select(li).value = String(r); }
      else { select(li).value = ""; }
    });
    refresh();
  }

  function refresh() {
    var k = ranked().length;
    items().forEach(function (li) {
      var isRanked = li.getAttribute("data-ranked") === "yes";
      var up = li.querySelector(".move-up"), down = li.querySelector(".move-down");
      var toggle = li.querySelector(".toggle-rank");
      var pos = ranked().indexOf(li);
      up.disabled = !isRanked || pos === 0;
      down.disabled = !isRanked || pos === k - 1;
      toggle.textContent = isRanked ? t("unrank", "Unrank") : t("rank", "Rank");
      toggle.setAttribute("aria-label", (isRanked ? t("unrank", "Unrank") : t("rank", "Rank")) + " " + label(li));
      li.classList.toggle("unranked", !isRanked);
    });
  }

  function describe(li) {
    var pos = ranked().indexOf(li);
    return pos >= 0 ? t("ranked_as", "{name}, rank {rank} of {of}", {name: label(li), rank: pos + 1, of: ranked().length})
      : t("unranked_as", "{name}, unranked", {name: label(li)});
  }

  /* Moving a node in the DOM takes the keyboard focus away from the control inside it (it falls
   * back to the page): give it back, to the same control if it can still be used, otherwise to
   * the option's Rank/Unrank button, so a keyboard user can keep going from where they were. */
  function keepFocus(li, control) {
    if (!control || control === document.body || !li.contains(control)) { return; }
    var target = control.disabled ? li.querySelector(".toggle-rank") : control;
    if (document.activeElement !== target) { target.focus(); }
  }

  function move(li, delta) {
    var r = ranked();
    var pos = r.indexOf(li);
    var target = r[pos + delta];
    if (pos < 0 || !target) { return; }
    var focused = document.activeElement;
    if (delta < 0) { list.insertBefore(li, target); } else { list.insertBefore(target, li); }
    writeRanks();
    keepFocus(li, focused);
    announce(describe(li));
  }

  function toggle(li) {
    var focused = document.activeElement;
    var r = ranked();
    if (li.getAttribute("data-ranked") === "yes") {
      li.setAttribute("data-ranked", "no");
      var last = r[r.length - 1];
      if (last && last !== li) { list.insertBefore(li, last.nextSibling); }
    } else {
      li.setAttribute("data-ranked", "yes");
      var after = r.length ? r[r.length - 1].nextSibling : list.firstChild;
      list.insertBefore(li, after);
    }
    writeRanks();
    keepFocus(li, focused);
    announce(describe(li));
  }

  function button(text, cls, name, handler) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "move secondary " + cls;
    b.textContent = text;
    b.setAttribute("aria-label", text + " " + name);
    b.addEventListener("click", handler);
    return b;
  }

  items().forEach(function (li) {
    var name = label(li);
    var controls = document.createElement("span");
    controls.className = "ballot-controls";
    controls.appendChild(button(t("up", "Up"), "move-up", name, function () { move(li, -1); }));
    controls.appendChild(button(t("down", "Down"), "move-down", name, function () { move(li, 1); }));
    controls.appendChild(button(t("rank", "Rank"), "toggle-rank", name, function () { toggle(li); }));
    li.insertBefore(controls, select(li).nextSibling);
    li.setAttribute("draggable", "true");
    li.addEventListener("keydown", function (e) {
      if (!e.altKey) { return; }
      if (e.key === "ArrowUp") { e.preventDefault(); move(li, -1); li.querySelector(".move-up").focus(); }
      if (e.key === "ArrowDown") { e.preventDefault(); move(li, 1); li.querySelector(".move-down").focus(); }
    });
    li.addEventListener("dragstart", function (e) {
      dragged = li;
      li.classList.add("dragging");
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", name);
    });
    li.addEventListener("dragend", function () {
      li.classList.remove("dragging");
      items().forEach(function (x) { x.classList.remove("drop-target"); });
      dragged = null;
    });
    li.addEventListener("dragover", function (e) {
      if (!dragged || dragged === li) { return; }
      e.preventDefault();
      li.classList.add("drop-target");
    });
    li.addEventListener("dragleave", function () { li.classList.remove("drop-target"); });
    li.addEventListener("drop", function (e) {
      e.preventDefault();
      li.classList.remove("drop-target");
      if (!dragged || dragged === li) { return; }
      var rect = li.getBoundingClientRect();
      var before = e.clientY < rect.top + rect.height / 2;
      list.insertBefore(dragged, before ? li : li.nextSibling);
      var prev = dragged.previousElementSibling;
      dragged.setAttribute("data-ranked", !prev || prev.getAttribute("data-ranked") === "yes" ? "yes" : "no");
      writeRanks();
      announce(describe(dragged));
    });
    select(li).addEventListener("change", function () {
      var focused = document.activeElement;
      sortFromSelects();
      keepFocus(li, focused);
      announce(describe(li));
    });
  });
  sortFromSelects();
})();
