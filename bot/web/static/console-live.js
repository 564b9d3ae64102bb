/*
 * The console's live feed: conversations' events from Rasa's event broker as
 * server-sent events (/api/console/events). An event refreshes the queue and,
 * if it is the open conversation's, its transcript at once; polling then only
 * runs every 15 s as a safety net. The page loads this script only when a
 * broker is configured (CRM_EVENT_BROKER_URL); while the feed is down the
 * console polls every second again.
 */
(function () {
  "use strict";

  var console_ = window.agentConsole;
  if (!console_ || !window.EventSource) return;

  var pending = {}, timer = null;
  // a burst of events (a turn is several) costs one refresh per conversation
  function changed(sender) {
    pending[sender || ""] = true;
    if (timer) return;
    timer = setTimeout(function () {
      var senders = Object.keys(pending);
      pending = {};
      timer = null;
      senders.forEach(function (s) { console_.changed(s || null); });
    }, 100);
  }

  var source = new EventSource("/api/console/events");
  source.addEventListener("status", function (e) {
    var live = JSON.parse(e.data).live;
    console_.live(live);
    document.body.dataset.live = live ? "on" : "off";
  });
  source.addEventListener("conversation", function (e) { changed(JSON.parse(e.data).sender_id); });
  source.addEventListener("resync", function () { changed(null); });
  source.addEventListener("error", function () {
    console_.live(false);  // polling every second until the feed is back (EventSource retries by itself)
    document.body.dataset.live = "off";
  });
})();
