// The background import's progress page: poll the job's status, move the bar, and show the
// server-rendered result (a reload) once the job has finished.  Labels come translated in the
// JSON, so nothing here needs a catalogue.
(function () {
  var box = document.querySelector('[data-testid="import-job"]');
  if (!box || box.dataset.finished === "1") return;
  var url = box.dataset.statusUrl;
  var bar = box.querySelector('[data-testid="import-bar"]');
  var progress = box.querySelector('[data-testid="import-progress"]');
  var stage = box.querySelector('[data-testid="import-stage"]');
  var count = box.querySelector('[data-testid="import-count"]');
  var delay = 1000;

  function show(job) {
    bar.style.width = job.percent + "%";
    progress.setAttribute("aria-valuenow", String(job.percent));
    stage.textContent = job.stage_label;
    count.firstChild.textContent = count.firstChild.textContent.replace(/^[\d,]+ \/ [\d,]+/,
      job.rows_done.toLocaleString() + " / " + job.rows_total.toLocaleString());
    box.querySelector('[data-testid="import-percent"]').textContent = job.percent + "%";
  }

  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (job) {
        show(job);
        if (job.finished) { window.setTimeout(function () { window.location.reload(); }, 600); return; }
        delay = 1000;
        window.setTimeout(poll, delay);
      })
      .catch(function () { delay = Math.min(delay * 2, 15000); window.setTimeout(poll, delay); });
  }
  window.setTimeout(poll, 500);
})();
