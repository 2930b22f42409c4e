// muster console: the running cycle's progress, live over Server-Sent Events. Every page works
// without this script; it only keeps the overview's progress current and reloads the page when
// a cycle ends, so the new cycle's row and counts show.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !window.EventSource) return;
  var bar = document.getElementById("progress-bar");
  var text = document.getElementById("progress-text");
  var wasRunning = !box.hidden;
  var events = new EventSource("/ui/events");
  events.addEventListener("progress", function (e) {
    var tick;
    try { tick = JSON.parse(e.data); } catch (err) { return; }
    var r = tick.running;
    if (r) {
      box.hidden = false;
      bar.max = Math.max(r.total, 1);
      bar.value = r.done;
      text.textContent = r.text;
      wasRunning = true;
    } else if (wasRunning) {
      events.close();
      window.location.reload();
    }
  });
})();
