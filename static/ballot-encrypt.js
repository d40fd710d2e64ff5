/* Encrypting the ballot in the browser, with a review step and a Benaloh challenge.
 *
 * The form works without this script (the server then encrypts on arrival). With it, "Review
 * my ballot" reads the ranks (or the referendum choice), encrypts them with the poll's election
 * parameters and the voter's credential (static/vendor/governance-crypto.js, built from @noble/curves by the
 * project's scripts; an ES module), and shows what will be cast with its tracker. "Cast" submits only the
 * encrypted ballot; "Check the encryption" reveals the randomness of that encrypted ballot (which
 * is then never cast) and encrypts a fresh one.
 */
import * as lib from "./vendor/governance-crypto.js";
import { pageText } from "./page-text.js";

(function () {
  "use strict";
  var form = document.getElementById("ballot-form");
  if (!form) { return; }
  document.documentElement.classList.add("js-crypto");
  var params = JSON.parse(form.getAttribute("data-params"));
  var credential = form.getAttribute("data-credential");
  var kind = form.getAttribute("data-kind");
  var t = pageText(form);  // the page's words for what this script writes
  var fields = document.getElementById("ballot-fields");
  var review = document.getElementById("ballot-review");
  var summary = document.getElementById("review-summary");
  var trackerOut = document.getElementById("review-tracker");
  var hidden = document.getElementById("encrypted-ballot");
  var auditBox = document.getElementById("audit-result");
  var auditText = document.getElementById("audit-text");
  var auditLink = document.getElementById("audit-download");
  var current = null;

  /* Each option's rank in ballot order (params.options): what is encrypted. 0 = unranked. */
  function values() {
    var byLabel = {};
    if (kind === "referendum") {
      var chosen = form.querySelector("input[name=choice]:checked");
      if (chosen && chosen.value !== "abstain") { byLabel[chosen.value] = 1; }
    } else {
      Array.prototype.forEach.call(form.querySelectorAll(".ballot-item"), function (li) {
        var v = li.querySelector("select.rank-input").value;
        if (v) { byLabel[li.getAttribute("data-label")] = parseInt(v, 10); }
      });
    }
    return params.options.map(function (label) { return byLabel[label] || 0; });
  }

  /* Groups of labels by rank, best first (gaps closed), as the count will read them. */
  function ranking(vals) {
    var ranks = {};
    vals.forEach(function (v, i) { if (v) { (ranks[v] = ranks[v] || []).push(params.options[i]); } });
    return Object.keys(ranks).map(Number).sort(function (a, b) { return a - b; })
      .map(function (r) { return ranks[r].sort(); });
  }

  function describe(vals) {
    var groups = ranking(vals);
    if (kind === "referendum") {
      return t("chose", "You chose: {choice}", {choice: groups.length ? t("choice_" + groups[0][0], groups[0][0])
                                                                      : t("choice_abstain", "abstain")});
    }
    if (!groups.length) { return t("blank", "This ballot is blank: you ranked no option. It counts towards turnout and for no one."); }
    var ranked = {};
    groups.forEach(function (g) { g.forEach(function (l) { ranked[l] = true; }); });
    var unranked = params.options.filter(function (l) { return !ranked[l]; });
    var order = groups.map(function (g, i) { return (i + 1) + ". " + g.join(" = "); }).join("; ");
    return unranked.length ? t("ranked_some", "You ranked: {order}. Not ranked: {rest}.", {order: order, rest: unranked.join(", ")})
      : t("ranked_all", "You ranked: {order}.", {order: order});
  }

  /* The tracker's first 16 digits in groups of four, as the receipt shows it. */
  function shortTracker(t) { return t.slice(0, 16).match(/.{4}/g).join("-"); }

  function encrypt() {
    var vals = values();
    current = lib.encryptBallot(params, vals, credential);
    current.values = vals;
    summary.textContent = describe(vals);
    summary.className = ranking(vals).length ? "" : "flash flash-info";
    trackerOut.textContent = shortTracker(current.tracker);
  }

  form.addEventListener("submit", function (e) {
    if (hidden.value) { return; }  // "Cast" filled it in: submit the encrypted ballot
    if (!form.reportValidity()) { return; }
    e.preventDefault();
    encrypt();
    auditBox.hidden = true;
    fields.hidden = true;
    review.hidden = false;
    review.focus();
  });

  document.getElementById("confirm-cast").addEventListener("click", function () {
    hidden.value = JSON.stringify(current.ballot);
    // The ranks themselves are not sent: only the encrypted ballot.
    Array.prototype.forEach.call(form.querySelectorAll("select.rank-input, input[name=choice]"), function (el) {
      el.disabled = true;
    });
    form.submit();
  });

  document.getElementById("change-ballot").addEventListener("click", function () {
    current = null;
    review.hidden = true;
    fields.hidden = false;
    document.getElementById("cast-button").focus();
  });

  document.getElementById("audit-ballot").addEventListener("click", function () {
    var checked = current;
    var decoded = lib.auditBallot(params, checked.ballot, checked.secrets);
    var same = decoded.length === checked.values.length && decoded.every(function (v, i) { return v === checked.values[i]; });
    auditText.textContent = (same ? t("audit_same", "The encrypted ballot with tracker {tracker} holds exactly your choices: ", {tracker: shortTracker(checked.tracker)})
      : t("audit_differs", "WARNING: the encrypted ballot does not hold your choices. Do not vote on this device; tell the election officers. It holds: ")) +
      describe(decoded) + t("audit_after", " That ballot will not be cast; a fresh encryption of your choices is shown above.");
    var file = {format: "governance-ballot-check", version: 1, parameters: params, credential: credential,
                ballot: checked.ballot, secrets: checked.secrets, values: checked.values, tracker: checked.tracker};
    auditLink.href = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2)], {type: "application/json"}));
    auditBox.hidden = false;
    encrypt();
  });
})();
