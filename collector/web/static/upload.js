// Drag-and-drop upload to /api/uploads and polling of the job list.
(function () {
  "use strict";
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var drop = document.getElementById("drop");
  var input = document.getElementById("file-input");
  var statusEl = document.getElementById("upload-status");
  var tbody = document.querySelector("#jobs tbody");

  function say(text, kind) { statusEl.textContent = text; statusEl.className = "status " + (kind || ""); }

  function cell(text, cls) { var td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }

  function renderJobs(jobs) {
    tbody.textContent = "";
    if (!jobs.length) { var tr = document.createElement("tr"); var td = cell("No uploads yet.", "muted"); td.colSpan = 7; tr.appendChild(td); tbody.appendChild(tr); return; }
    jobs.forEach(function (j) {
      var tr = document.createElement("tr");
      tr.dataset.job = j.id;
      tr.appendChild(cell(j.id)); tr.appendChild(cell(j.kind));
      tr.appendChild(cell(String(j.files), "num")); tr.appendChild(cell(j.done + "/" + j.total, "num"));
      tr.appendChild(cell(String(j.imported), "num"));
      var st = cell(""); var pill = document.createElement("span"); pill.className = "pill pill-" + j.status; pill.textContent = j.status; st.appendChild(pill); tr.appendChild(st);
      // the server's line: the error, the stage, or the outcome with skip and held-back reasons
      tr.appendChild(cell(j.detail || ""));
      tbody.appendChild(tr);
    });
  }

  function poll() {
    fetch("/api/uploads", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      renderJobs(data.jobs);
      var active = data.jobs.some(function (j) { return j.status === "queued" || j.status === "running"; });
      setTimeout(poll, active ? 1000 : 5000);
    }).catch(function () { setTimeout(poll, 5000); });
  }

  function send(files) {
    if (!files.length) return;
    var form = new FormData();
    Array.prototype.forEach.call(files, function (f) { form.append("files", f, f.name); });
    form.append("as", document.getElementById("import-as").value);
    form.append("tag", document.getElementById("import-tag").value);
    form.append("subject_from", document.getElementById("import-subject").value);
    say("Uploading " + files.length + " file(s)…");
    fetch("/api/uploads", { method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
      .then(function (r) { return r.json().then(function (d) { if (!r.ok) throw new Error(d.error || r.statusText); return d; }); })
      .then(function (job) { say("Job " + job.id + " started on " + job.files + " image(s).", "ok"); poll(); })
      .catch(function (err) { say("Upload refused: " + err.message, "error"); });
  }

  var options = document.getElementById("import-options");
  if (options) {
    // Enter in an option field must not submit the page (no inline handler: the CSP forbids it).
    options.addEventListener("submit", function (e) { e.preventDefault(); });
  }
  var folderForm = document.getElementById("folder-form");
  if (folderForm) {
    folderForm.addEventListener("submit", function () {
      folderForm.elements["as"].value = document.getElementById("import-as").value;
      folderForm.elements["tag"].value = document.getElementById("import-tag").value;
      folderForm.elements["subject_from"].value = document.getElementById("import-subject").value;
    });
  }
  if (drop) {
    ["dragenter", "dragover"].forEach(function (ev) { drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (ev) { drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); }); });
    drop.addEventListener("drop", function (e) { send(e.dataTransfer.files); });
    input.addEventListener("change", function () { send(input.files); input.value = ""; });
  }
  poll();
})();
