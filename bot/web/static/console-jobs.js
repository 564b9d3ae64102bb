/*
 * The console's jobs panel (operators): each scheduled job's last run, its
 * outcome and message, from /api/console/jobs, refreshed every minute.
 * All text is inserted with textContent.
 */
(function () {
  "use strict";

  var REFRESH_MS = 60000;
  var list = document.getElementById("jobs-list");
  if (!list) return;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }) : "";
  }

  function item(job) {
    var li = el("li", "queue-item job-item");
    li.dataset.job = job.name;
    li.appendChild(el("div", "job-name", job.name + (job.schedule ? "" : " (off)")));
    var run = job.last_run;
    var outcome = job.running_on ? "running on " + job.running_on : (run ? run.status : "never run");
    var line = el("div", "muted job-outcome job-" + (job.running_on ? "running" : (run ? run.status : "never")), outcome);
    if (run) line.textContent += ", " + when(run.started_at);
    li.appendChild(line);
    if (run && run.message) {
      var message = el("div", "job-message", run.message);
      li.title = run.message;
      li.appendChild(message);
    }
    return li;
  }

  function refresh() {
    fetch("/api/console/jobs", { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) return;
      list.replaceChildren.apply(list, data.jobs.map(item));
    }).catch(function () { /* next refresh */ });
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
