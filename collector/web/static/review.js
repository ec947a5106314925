// Keyboard-first review: one keystroke (Enter) confirms a page whose pre-labels are right.
(function () {
  "use strict";
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var grid = document.getElementById("grid");
  var statusEl = document.getElementById("status");
  var cards = grid ? Array.prototype.slice.call(grid.querySelectorAll(".card")) : [];
  var classes = grid ? JSON.parse(grid.dataset.classes) : [];
  var focus = 0;
  var changes = []; // local edits on this page, newest last, for "u"
  var busy = false;

  function say(text, kind) {
    statusEl.textContent = text;
    statusEl.className = "status " + (kind || "");
  }

  // Edits not yet confirmed survive leaving the page (o, a reload, the back button): without
  // this, coming back from a detail view showed the pre-labels and Enter confirmed those.
  var EDITS = "facetrove.edits";
  var SENT = "facetrove.sent";

  function save() {
    var state = { edits: {}, changes: [], focus: cards.length ? cards[focus].dataset.id : null };
    changes.forEach(function (ch) {
      var c = cards[ch.i];
      state.edits[c.dataset.id] = { label: c.dataset.label, rejected: c.dataset.rejected };
      state.changes.push({ id: c.dataset.id, label: ch.label, rejected: ch.rejected });
    });
    sessionStorage.setItem(EDITS, JSON.stringify(state));
  }

  function restore() {
    var state;
    try { state = JSON.parse(sessionStorage.getItem(EDITS) || "null"); } catch (err) { state = null; }
    if (!state) return;
    var at = {};
    cards.forEach(function (c, i) { at[c.dataset.id] = i; });
    Object.keys(state.edits || {}).forEach(function (id) {
      if (at[id] === undefined) return; // another page now: those edits are not for it
      cards[at[id]].dataset.label = state.edits[id].label || "";
      cards[at[id]].dataset.rejected = state.edits[id].rejected || "";
    });
    (state.changes || []).forEach(function (ch) {
      if (at[ch.id] !== undefined) changes.push({ i: at[ch.id], label: ch.label, rejected: ch.rejected });
    });
    if (state.focus && at[state.focus] !== undefined) focus = at[state.focus];
  }

  var last = sessionStorage.getItem("facetrove.status");
  if (last) { say(last, "ok"); sessionStorage.removeItem("facetrove.status"); }

  function render(card) {
    var chip = card.querySelector(".chip");
    var rejected = card.dataset.rejected === "1";
    var label = card.dataset.label;
    var idx = classes.indexOf(label);
    chip.textContent = rejected ? "rejected" : (label ? (idx >= 0 ? (idx + 1) + " " : "") + label : "no label");
    chip.className = "chip" + (rejected ? " chip-reject" : idx >= 0 ? " cls-" + (idx % 10) : " chip-none");
    card.classList.toggle("rejected", rejected);
    card.classList.toggle("changed", !rejected && label !== card.dataset.suggested);
  }

  function setFocus(i) {
    if (!cards.length) return;
    focus = Math.max(0, Math.min(cards.length - 1, i));
    cards.forEach(function (c, j) { c.classList.toggle("focused", j === focus); });
    cards[focus].focus({ preventScroll: true });
    cards[focus].scrollIntoView({ block: "nearest" });
  }

  function columns() {
    if (cards.length < 2) return 1;
    var top = cards[0].offsetTop, n = 0;
    while (n < cards.length && cards[n].offsetTop === top) n++;
    return Math.max(1, n);
  }

  function edit(i, label, rejected) {
    var c = cards[i];
    changes.push({ i: i, label: c.dataset.label, rejected: c.dataset.rejected });
    c.dataset.label = label;
    c.dataset.rejected = rejected ? "1" : "";
    render(c);
    save();
  }

  function setLabel(label) { if (cards.length) edit(focus, label, false); }
  function toggleReject() {
    if (!cards.length) return;
    var c = cards[focus];
    edit(focus, c.dataset.label, c.dataset.rejected !== "1");
  }

  function api(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || r.statusText);
        return data;
      });
    });
  }

  function confirmPage() {
    if (busy || !cards.length) return;
    var decisions = [], skipped = 0;
    cards.forEach(function (c) {
      if (c.dataset.rejected === "1") decisions.push({ sample_id: c.dataset.id, action: "reject" });
      else if (c.dataset.label) decisions.push({ sample_id: c.dataset.id, action: "label", label: c.dataset.label });
      else skipped++;
    });
    busy = true;
    // Kept so that "u" after saving brings back these labels, not the suggestions.
    var sent = {};
    decisions.forEach(function (d) {
      sent[d.sample_id] = { label: d.label || "", rejected: d.action === "reject" ? "1" : "" };
    });
    sessionStorage.setItem(SENT, JSON.stringify(sent));
    say("Saving " + decisions.length + " decisions…");
    api("/api/decisions", { decisions: decisions }).then(function (data) {
      var msg = "Saved " + data.saved + " decisions" + (skipped ? " (" + skipped + " without a label left in the queue)" : "") + ". Press u to undo.";
      sessionStorage.setItem("facetrove.status", msg);
      sessionStorage.removeItem(EDITS);
      window.location.reload();
    }).catch(function (err) { busy = false; say("Not saved: " + err.message, "error"); });
  }

  function undo() {
    if (busy) return;
    if (changes.length) {
      var ch = changes.pop(), c = cards[ch.i];
      c.dataset.label = ch.label;
      c.dataset.rejected = ch.rejected;
      render(c);
      setFocus(ch.i);
      save();
      say("Undid the last change on this page.");
      return;
    }
    busy = true;
    api("/api/undo").then(function (data) {
      var n = data.undone.length;
      sessionStorage.setItem("facetrove.status", n ? "Undid your last " + n + " decisions; they are back on this page." : "Nothing to undo.");
      var sent = {};
      try { sent = JSON.parse(sessionStorage.getItem(SENT) || "{}"); } catch (err) { sent = {}; }
      var edits = {};
      data.undone.forEach(function (id) { if (sent[id]) edits[id] = sent[id]; });
      sessionStorage.setItem(EDITS, JSON.stringify({ edits: edits, changes: [], focus: null }));
      sessionStorage.removeItem(SENT);
      window.location.reload();
    }).catch(function (err) { busy = false; say("Undo failed: " + err.message, "error"); });
  }

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var k = e.key;
    if (k >= "1" && k <= "9") {
      var label = classes[parseInt(k, 10) - 1];
      if (label) { setLabel(label); e.preventDefault(); }
    } else if (k === "ArrowRight") { setFocus(focus + 1); e.preventDefault(); }
    else if (k === "ArrowLeft") { setFocus(focus - 1); e.preventDefault(); }
    else if (k === "ArrowDown") { setFocus(focus + columns()); e.preventDefault(); }
    else if (k === "ArrowUp") { setFocus(focus - columns()); e.preventDefault(); }
    else if (k === "Enter" || k === " ") {
      if (t && t.tagName === "BUTTON" && !t.closest(".card")) return; // a focused button handles its own Enter
      confirmPage(); e.preventDefault();
    }
    else if (k === "x" || k === "X") { toggleReject(); e.preventDefault(); }
    else if (k === "u" || k === "U") { undo(); e.preventDefault(); }
    else if ((k === "o" || k === "O") && cards.length) { save(); window.location.href = cards[focus].dataset.detail; }
  });

  restore();
  cards.forEach(function (c, i) {
    render(c);
    c.addEventListener("click", function (e) {
      setFocus(i);
      if (e.target.classList.contains("x")) toggleReject();
    });
    c.addEventListener("dblclick", function () { save(); window.location.href = c.dataset.detail; });
  });
  Array.prototype.forEach.call(document.querySelectorAll("#palette .pal"), function (b) {
    b.addEventListener("click", function () {
      if (b.dataset.reject) toggleReject(); else setLabel(b.dataset.label);
      setFocus(focus);
    });
  });
  var confirmBtn = document.getElementById("confirm-btn");
  if (confirmBtn) confirmBtn.addEventListener("click", confirmPage);
  document.getElementById("undo-btn").addEventListener("click", undo);
  setFocus(focus);
})();
