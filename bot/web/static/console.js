/*
 * The agent console: the queue (polled every second), one conversation at a
 * time (its transcript polled every second), the customer's context card, and
 * the agent's actions (accept, join, reply, apply the offer, hand back).
 * All text is inserted with textContent.
 *
 * Timings for the benchmark: performance measures "queue-render" (from the
 * page's start to the first drawn queue) and "card-render" (from a click on a
 * conversation to its drawn context card and transcript).
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  // with the live feed (console-live.js) polling is only a safety net
  var LIVE_POLL_MS = 15000;
  var pollMs = POLL_MS;
  var me = document.getElementById("whoami").dataset.username;
  // `view` counts conversation openings: an answer for an earlier one is dropped
  var state = { sender: null, view: 0, loadedView: -1, lastIndex: -1, handoff: null, card: null, queueFetchedAt: 0, queue: null, queueDrawn: false };

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function api(method, url, body) {
    var options = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (r) {
      if (r.status === 401) { window.location.href = "/console/login"; throw new Error("logged out"); }
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.detail || ("error " + r.status));
        return data;
      });
    });
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + " min " + s + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function money(value) {
    return value === null || value === undefined ? "–" : "£" + Number(value).toLocaleString("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function day(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
  }

  function clock(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  }

  function who(entry) {
    return entry.customer_name || "Anonymous visitor";
  }

  function showError(message) {
    var box = $("conversation-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  // ------------------------------------------------------------------ the queue

  function queueItem(entry, kind) {
    var li = el("li", "queue-item" + (entry.sender_id === state.sender ? " selected" : ""));
    li.dataset.sender = entry.sender_id;
    if (entry.id) li.dataset.handoff = String(entry.id);
    var top = el("div", "queue-top");
    top.appendChild(el("span", "queue-name", who(entry)));
    var badge = el("span", "queue-badge");
    if (kind === "waiting") {
      badge.classList.add("wait");
      badge.dataset.waitSeconds = String(entry.wait_seconds);
      badge.textContent = "waiting " + duration(entry.wait_seconds);
    } else if (kind === "active") {
      badge.textContent = entry.agent === me ? "you" : entry.agent;
    } else {
      badge.textContent = entry.channel;
    }
    top.appendChild(badge);
    li.appendChild(top);
    var detail = kind === "live" ? "talking to the assistant" : String(entry.reason || "").replace(/_/g, " ");
    li.appendChild(el("div", "queue-detail", detail));
    li.addEventListener("click", function () { openConversation(entry.sender_id); });
    return li;
  }

  function drawList(id, entries, kind) {
    var ul = $(id);
    ul.textContent = "";
    entries.forEach(function (e) { ul.appendChild(queueItem(e, kind)); });
    $("count-" + kind).textContent = String(entries.length);
  }

  function drawQueue(queue) {
    drawList("queue-waiting", queue.waiting, "waiting");
    drawList("queue-active", queue.active, "active");
    drawList("queue-live", queue.live, "live");
    if (!state.queueDrawn) {
      state.queueDrawn = true;
      performance.measure("queue-render", { start: 0, end: performance.now() });
      document.body.dataset.queueReady = "1";
    }
  }

  // waits tick between polls
  function tickWaits() {
    var elapsed = (performance.now() - state.queueFetchedAt) / 1000;
    var badges = document.querySelectorAll(".queue-badge.wait");
    for (var i = 0; i < badges.length; i++) {
      badges[i].textContent = "waiting " + duration(Number(badges[i].dataset.waitSeconds) + elapsed);
    }
  }

  function pollQueue() {
    return api("GET", "/api/console/queue").then(function (data) {
      state.queueFetchedAt = performance.now();
      state.queue = data.queue;
      drawQueue(data.queue);
    }).catch(function () { /* next poll */ });
  }

  // ------------------------------------------------------------------ a conversation

  function drawLine(line) {
    var li = el("li", "line line-" + line.kind + (line.while_paused ? " while-paused" : ""));
    li.dataset.index = String(line.index);
    var head = el("div", "line-head");
    var agentName = line.author ? line.author.charAt(0).toUpperCase() + line.author.slice(1) : "Agent";
    var label = { customer: "Customer", bot: "Assistant", agent: agentName, system: "" }[line.kind];
    if (label) head.appendChild(el("span", "line-who", label));
    head.appendChild(el("span", "line-time", clock(line.at)));
    li.appendChild(head);
    if (line.text) li.appendChild(el("div", "line-text", line.text));
    if (line.products && line.products.length) {
      var ul = el("ul", "line-products");
      line.products.forEach(function (p) {
        ul.appendChild(el("li", null, p.name + " — " + money(p.price) + " (" + (p.reason || "") + ")"));
      });
      li.appendChild(ul);
    }
    if (line.buttons && line.buttons.length) {
      li.appendChild(el("div", "line-buttons", "Buttons: " + line.buttons.map(function (b) { return b.title; }).join(" · ")));
    }
    return li;
  }

  function appendLines(lines) {
    var log = $("transcript");
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    lines.forEach(function (line) { log.appendChild(drawLine(line)); });
    if (lines.length && atBottom) log.scrollTop = log.scrollHeight;
  }

  function mine() {
    return state.handoff && state.handoff.status === "active" && state.handoff.agent === me;
  }

  function drawControls(paused) {
    var h = state.handoff;
    var title = state.card ? state.card.name : "Anonymous visitor";
    $("conversation-title").textContent = title;
    var text;
    if (!h) text = paused ? "Paused, no agent" : "With the assistant";
    else if (h.status === "waiting") text = "Waiting " + duration(h.wait_seconds) + " · " + h.reason.replace(/_/g, " ");
    else text = (h.agent === me ? "You have this conversation" : h.agent + " has this conversation") + " · " + h.reason.replace(/_/g, " ");
    $("conversation-state").textContent = text;
    $("btn-accept").hidden = !(h && h.status === "waiting");
    $("btn-pickup").hidden = Boolean(h);
    var on = mine();
    ["reply-input", "reply-send", "handback-resolution", "handback-send"].forEach(function (id) { $(id).disabled = !on; });
    var offerButton = document.getElementById("btn-offer");
    if (offerButton) offerButton.disabled = !on;
  }

  function row(dl, term, value) {
    dl.appendChild(el("dt", null, term));
    dl.appendChild(el("dd", null, value === null || value === undefined || value === "" ? "–" : String(value)));
  }

  function drawCard(card) {
    var box = $("card");
    box.textContent = "";
    if (!card) {
      box.appendChild(el("div", "empty", "Anonymous visitor: not signed in or verified, so no customer details."));
      return;
    }
    box.dataset.customer = String(card.customer_id);
    var head = el("div", "card-head");
    head.appendChild(el("h2", "card-name", card.name));
    head.appendChild(el("div", "muted", "Customer " + (card.external_ref || card.customer_id) + " · " + card.masked_email + (card.country ? " · " + card.country : "")));
    box.appendChild(head);

    var dl = el("dl", "card-facts");
    row(dl, "Segment", card.rfm_segment ? card.rfm_segment + (card.cluster_label ? " · " + card.cluster_label : "") : null);
    row(dl, "Loyalty", card.tier ? card.tier + " · " + Number(card.points).toLocaleString("en-GB") + " points" : null);
    if (card.next_tier) row(dl, "Next tier", money(card.amount_to_next_tier) + " to " + card.next_tier);
    row(dl, "Lifecycle", card.lifecycle);
    row(dl, "CLV (12 months)", card.clv_12m === null ? null : money(card.clv_12m));
    row(dl, "Churn risk", card.churn_risk === null ? null : Math.round(card.churn_risk * 100) + "%");
    row(dl, "Orders", card.order_count + " · " + money(card.total_spent) + " in total");
    box.appendChild(dl);
    if (card.churn_reasons && card.churn_reasons.length) {
      var reasons = el("ul", "churn-reasons");
      card.churn_reasons.slice(0, 3).forEach(function (r) { reasons.appendChild(el("li", null, r)); });
      box.appendChild(reasons);
    }

    box.appendChild(el("h3", null, "Recent orders"));
    var table = el("table", "card-orders");
    card.recent_orders.forEach(function (o) {
      var tr = el("tr");
      tr.dataset.number = o.number;
      [o.number, day(o.placed_at), o.status, o.items + " items", money(o.total)].forEach(function (v, i) {
        var td = el("td", i === 2 ? "status status-" + o.status : null, v);
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    if (!card.recent_orders.length) box.appendChild(el("div", "muted", "No orders yet."));
    else box.appendChild(table);

    box.appendChild(el("h3", null, "Best offer"));
    (card.accepted_offers || []).forEach(function (taken) {
      var done = el("div", "offer-done", "Applied: " + taken.name + " (" + taken.code + "), " + day(taken.accepted_at));
      done.dataset.code = taken.code;
      box.appendChild(done);
    });
    var offer = el("div", "card-offer");
    if (!card.offer) {
      offer.appendChild(el("div", "muted", "No offer for this customer right now."));
    } else {
      offer.dataset.code = card.offer.code;
      offer.appendChild(el("div", "offer-name", card.offer.name + " (" + card.offer.code + ")"));
      offer.appendChild(el("div", null, card.offer.description));
      offer.appendChild(el("div", "muted", card.offer.reason));
      if (card.offer.accepted) {
        offer.appendChild(el("div", "offer-done", "Applied"));
      } else if (!card.offer.may_offer) {
        offer.appendChild(el("div", "muted", "In the A/B control group: do not offer it."));
      } else {
        var b = el("button", null, "Apply offer");
        b.type = "button";
        b.id = "btn-offer";
        b.disabled = !mine();
        b.addEventListener("click", function () { applyOffer(card.offer.code); });
        offer.appendChild(b);
      }
    }
    box.appendChild(offer);

    box.appendChild(el("h3", null, "Recommended for them"));
    var recs = el("ol", "card-recs");
    card.recommendations.forEach(function (p) {
      var li = el("li");
      li.appendChild(el("span", "rec-name", p.name));
      li.appendChild(el("span", "rec-price", " " + money(p.price)));
      li.appendChild(el("div", "muted", p.reason));
      recs.appendChild(li);
    });
    if (!card.recommendations.length) box.appendChild(el("div", "muted", card.recommendations_note || "None."));
    else box.appendChild(recs);
  }

  function openConversation(sender) {
    var started = performance.now();
    var view = ++state.view;
    state.sender = sender;
    state.lastIndex = -1;
    $("conversation").dataset.rendered = "";
    showError("");
    var marks = document.querySelectorAll(".queue-item");
    for (var i = 0; i < marks.length; i++) marks[i].classList.toggle("selected", marks[i].dataset.sender === sender);
    return api("GET", "/api/console/conversations/" + encodeURIComponent(sender)).then(function (data) {
      if (state.view !== view) return;
      state.loadedView = view;
      state.handoff = data.handoff;
      state.card = data.card;
      $("conversation-empty").hidden = true;
      $("conversation-body").hidden = false;
      $("conversation").dataset.sender = sender;
      $("transcript").textContent = "";
      appendLines(data.lines);
      state.lastIndex = data.last_index;
      drawCard(data.card);
      drawControls(data.paused);
      $("transcript").scrollTop = $("transcript").scrollHeight;
      performance.measure("card-render", { start: started, end: performance.now() });
      $("conversation").dataset.rendered = sender;
    }).catch(function (e) { showError(e.message); });
  }

  function pollConversation() {
    var sender = state.sender, view = state.view;
    if (!sender || state.loadedView !== view) return Promise.resolve(); // still opening
    var url = "/api/console/conversations/" + encodeURIComponent(sender) + "/transcript?after=" + state.lastIndex;
    return api("GET", url).then(function (data) {
      if (state.view !== view) return;
      // two polls may overlap (the timer and an action): draw each line once
      appendLines(data.lines.filter(function (line) { return line.index > state.lastIndex; }));
      state.lastIndex = Math.max(state.lastIndex, data.last_index);
      state.handoff = data.handoff;
      drawControls(data.paused);
    }).catch(function () { /* next poll */ });
  }

  function act(promise) {
    showError("");
    return promise.then(function () {
      return Promise.all([pollConversation(), pollQueue()]);
    }).catch(function (e) { showError(e.message); });
  }

  function applyOffer(code) {
    act(api("POST", "/api/console/conversations/" + encodeURIComponent(state.sender) + "/offer", { code: code })
      .then(function () { return openConversation(state.sender); }));
  }

  // the agent's reply; returns the time it was posted (for the benchmark)
  function sendReply(text) {
    var postedAt = performance.timeOrigin + performance.now();
    var done = act(api("POST", "/api/console/conversations/" + encodeURIComponent(state.sender) + "/messages", { text: text }));
    return { postedAt: postedAt, done: done };
  }

  $("btn-accept").addEventListener("click", function () {
    if (!state.handoff) return;
    act(api("POST", "/api/console/handoffs/" + state.handoff.id + "/accept"));
  });
  $("btn-pickup").addEventListener("click", function () {
    act(api("POST", "/api/console/conversations/" + encodeURIComponent(state.sender) + "/pickup"));
  });
  $("reply-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("reply-input").value.trim();
    if (!text) return;
    $("reply-input").value = "";
    sendReply(text);
  });
  $("reply-input").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("reply-form").requestSubmit();
    }
  });
  $("handback-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var resolution = $("handback-resolution").value.trim();
    if (!resolution) { showError("Say in a few words how it ended (the resolution) before handing back."); return; }
    act(api("POST", "/api/console/handoffs/" + state.handoff.id + "/handback", { resolution: resolution })
      .then(function () { $("handback-resolution").value = ""; }));
  });

  function loop() {
    Promise.all([pollQueue(), pollConversation()]).then(function () { setTimeout(loop, pollMs); });
  }
  setInterval(tickWaits, 1000);
  loop();

  window.agentConsole = {
    open: openConversation,
    sendReply: sendReply,
    // the live feed: something happened in conversation `sender` (null: anywhere); `live`: whether it is up
    changed: function (sender) {
      var polls = [pollQueue()];
      if (!sender || sender === state.sender) polls.push(pollConversation());
      return Promise.all(polls);
    },
    live: function (on) { pollMs = on ? LIVE_POLL_MS : POLL_MS; }
  };
})();
