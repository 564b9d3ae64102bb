/*
 * The shop's chat widget: a socket.io client of Rasa's socket.io channel.
 *
 * - The conversation id (Rasa's session_id) lives in localStorage, so a reload
 *   rejoins the same conversation; what was said is redrawn from
 *   /api/chat/history. Signing in or out starts a new conversation.
 * - Every message carries the signed customer token from /api/session in
 *   `customData`; the token is refreshed before it expires.
 * - Bot messages: text, quick replies (Rasa buttons; a click sends the payload),
 *   product cards (custom.products), the handoff notice (custom.handoff) and
 *   agents' messages (author "agent:<name>").
 * All text is inserted with textContent: nothing a message says becomes markup.
 */
(function () {
  "use strict";

  var SESSION_KEY = "shop-chat-session";
  var IDENTITY_KEY = "shop-chat-identity";
  var GREETING = "/greet";

  var state = {
    token: null,
    identity: "anonymous",
    sessionId: null,
    socket: null,
    status: "assistant",
    historyShown: false,
    typingTimer: null,
  };

  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var sendButton = document.getElementById("chat-send");
  var statusLine = document.getElementById("chat-status");
  var typing = document.getElementById("chat-typing");
  var account = document.getElementById("account");

  function now() {
    return performance.timeOrigin + performance.now();
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function money(value) {
    return "£" + Number(value).toFixed(2);
  }

  function setStatus(kind, text) {
    state.status = kind;
    statusLine.dataset.state = kind;
    statusLine.textContent = text;
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    typing.hidden = !on;
    if (on) state.typingTimer = setTimeout(function () { typing.hidden = true; }, 8000);
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function append(node) {
    node.dataset.receivedAt = String(now());
    log.appendChild(node);
    scrollDown();
    return node;
  }

  // ------------------------------------------------------------------ rendering

  function clearQuickReplies() {
    var old = log.querySelectorAll(".quick-replies");
    for (var i = 0; i < old.length; i++) old[i].remove();
  }

  function renderUser(text) {
    clearQuickReplies();
    var li = el("li", "msg msg-user");
    li.appendChild(el("div", "bubble", text));
    return append(li);
  }

  function authorName(author) {
    var name = String(author || "").replace(/^agent:/, "");
    return name ? name.charAt(0).toUpperCase() + name.slice(1) : "Our team";
  }

  function renderText(text, author) {
    var isAgent = Boolean(author) && String(author).indexOf("agent:") === 0;
    var li = el("li", isAgent ? "msg msg-agent" : "msg msg-bot");
    if (isAgent) li.appendChild(el("div", "author", authorName(author) + " · customer service"));
    li.appendChild(el("div", "bubble", text));
    return append(li);
  }

  function renderQuickReplies(buttons) {
    if (!buttons || !buttons.length) return;
    var li = el("li", "quick-replies");
    buttons.forEach(function (button) {
      var b = el("button", "quick-reply", button.title);
      b.type = "button";
      b.dataset.payload = button.payload;
      b.addEventListener("click", function () {
        send(button.payload, button.title);
      });
      li.appendChild(b);
    });
    append(li);
  }

  // The text channels get products as a bulleted list; where cards follow, keep only its first line.
  function collapseListBefore(count) {
    var last = log.lastElementChild;
    if (!last || !last.classList.contains("msg-bot")) return;
    var bubble = last.querySelector(".bubble");
    var lines = bubble.textContent.split("\n");
    var bullets = lines.slice(1).filter(function (l) { return l.indexOf("- ") === 0; });
    if (lines.length > 1 && bullets.length === count && bullets.length === lines.length - 1) {
      bubble.textContent = lines[0];
    }
  }

  function renderProducts(products) {
    collapseListBefore(products.length);
    var li = el("li", "msg msg-bot msg-products");
    var row = el("div", "product-cards");
    products.forEach(function (p) {
      var card = el("div", "product-card");
      card.dataset.sku = p.sku || "";
      card.appendChild(el("div", "product-category", p.category || ""));
      card.appendChild(el("div", "product-name", p.name));
      card.appendChild(el("div", "product-price", money(p.price)));
      card.appendChild(el("div", "product-reason", p.reason || ""));
      row.appendChild(card);
    });
    li.appendChild(row);
    return append(li);
  }

  function onHandoff(handoff) {
    if (!handoff) return;
    if (handoff.status === "resolved") {
      setStatus("assistant", "You're chatting with our assistant");
    } else {
      setStatus("waiting", "Waiting for a member of our team…");
    }
  }

  // A message as Rasa's socket.io channel (bot/rasa_runtime/channels.py) emits it.
  function renderBotMessage(message) {
    showTyping(false);
    var custom = message.custom || {};
    if (message.text) renderText(message.text, message.author);
    if (message.author && String(message.author).indexOf("agent:") === 0 && !custom.handoff) {
      setStatus("agent", "You're chatting with " + authorName(message.author) + " from our team");
    }
    renderQuickReplies(message.quick_replies || message.buttons);
    if (custom.products && custom.products.length) renderProducts(custom.products);
    if (custom.handoff) onHandoff(custom.handoff);
  }

  // A transcript line from /api/chat/history.
  function renderLine(line, isLast) {
    if (line.kind === "customer") {
      if (line.text !== GREETING) renderUser(line.text);
      return;
    }
    if (line.text) renderText(line.text, line.kind === "agent" ? "agent:" + (line.author || "") : null);
    if (isLast && line.buttons && line.buttons.length) renderQuickReplies(line.buttons);
    if (line.products && line.products.length) renderProducts(line.products);
  }

  // ------------------------------------------------------------------ the conversation

  function metadata() {
    return state.token ? { customer_token: state.token } : {};
  }

  function send(text, shown) {
    var message = String(text || "").trim();
    if (!message || !state.socket || !state.sessionId) return;
    if (message !== GREETING) renderUser(shown || message);
    state.socket.emit("user_uttered", { message: message, session_id: state.sessionId, customData: metadata() });
    if (state.status === "assistant") showTyping(true);
    // the console lists conversations where the customer has said something
    if (message !== GREETING) register();
  }

  function register() {
    if (!state.sessionId) return;
    fetch("/api/chat/register", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ session_id: state.sessionId }),
      keepalive: true,
    }).catch(function () { /* the console's live list is a convenience */ });
  }

  function showHistory() {
    return fetch("/api/chat/history?session_id=" + encodeURIComponent(state.sessionId), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { lines: [] }; })
      .then(function (body) {
        var lines = body.lines || [];
        log.textContent = "";
        lines.forEach(function (line, i) { renderLine(line, i === lines.length - 1); });
        var status = body.status || {};
        if (status["with"] === "agent") {
          setStatus("agent", "You're chatting with " + authorName(status.agent) + " from our team");
        } else if (status["with"] === "waiting") {
          setStatus("waiting", "Waiting for a member of our team…");
        } else {
          setStatus("assistant", "You're chatting with our assistant");
        }
        return lines.length;
      })
      .catch(function () { return 0; });
  }

  function enableInput(on) {
    input.disabled = !on;
    sendButton.disabled = !on;
    if (on) input.focus();
  }

  function connect(session) {
    var stored = localStorage.getItem(SESSION_KEY);
    var sameIdentity = localStorage.getItem(IDENTITY_KEY) === state.identity;
    state.sessionId = stored && sameIdentity ? stored : null;
    localStorage.setItem(IDENTITY_KEY, state.identity);

    var socket = io(session.socket.url, { path: session.socket.path, transports: ["websocket", "polling"] });
    state.socket = socket;
    socket.on("connect", function () {
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("session_confirm", function (sessionId) {
      var resumed = Boolean(state.sessionId) && sessionId === state.sessionId;
      state.sessionId = sessionId;
      localStorage.setItem(SESSION_KEY, sessionId);
      if (state.status !== "agent" && state.status !== "waiting") {
        setStatus("assistant", "You're chatting with our assistant");
      }
      enableInput(true);
      if (state.historyShown) return;
      state.historyShown = true;
      if (resumed) register();
      var shown = resumed ? showHistory() : Promise.resolve(0);
      shown.then(function (count) {
        if (!count) send(GREETING);
      });
    });
    socket.on("bot_uttered", renderBotMessage);
    socket.on("disconnect", function () {
      setStatus("offline", "Reconnecting…");
      enableInput(false);
    });
  }

  function renderAccount(session) {
    account.textContent = "";
    if (session.customer) {
      var c = session.customer;
      account.appendChild(el("h2", null, "Signed in as " + c.name));
      if (c.orders && c.orders.length) {
        account.appendChild(el("div", "muted", "Your recent orders"));
        var ul = el("ul", "orders");
        c.orders.forEach(function (o) {
          var li = el("li", "order");
          li.dataset.number = o.number;
          li.textContent = o.number + " · " + o.status + " · " + money(o.total);
          ul.appendChild(li);
        });
        account.appendChild(ul);
      }
      var out = el("form");
      out.method = "post";
      out.action = "/demo/logout";
      var sid = el("input");
      sid.type = "hidden";
      sid.name = "session_id";
      sid.value = state.sessionId || localStorage.getItem(SESSION_KEY) || "";
      out.appendChild(sid);
      out.addEventListener("submit", function () { sid.value = state.sessionId || sid.value; });
      var b = el("button", "link", "Sign out");
      b.type = "submit";
      b.id = "demo-logout";
      out.appendChild(b);
      account.appendChild(out);
      return;
    }
    account.appendChild(el("h2", null, "Demo sign-in"));
    account.appendChild(el("p", "muted", "Stands in for the shop's own login: pick a customer of the sample data."));
    var login = el("form", "demo-login");
    login.method = "post";
    login.action = "/demo/login";
    var select = el("select");
    select.name = "ref";
    select.id = "demo-customer";
    (session.demo_customers || []).forEach(function (c) {
      var option = el("option", null, c.name + " (" + c.ref + ")");
      option.value = c.ref;
      select.appendChild(option);
    });
    var submit = el("button", null, "Sign in");
    submit.type = "submit";
    submit.id = "demo-login";
    login.appendChild(select);
    login.appendChild(submit);
    account.appendChild(login);
  }

  function fetchSession() {
    return fetch("/api/session", { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("session " + r.status);
      return r.json();
    });
  }

  function identityOf(session) {
    return session.customer ? "customer:" + (session.customer.ref || session.customer.name) : "anonymous";
  }

  function keepTokenFresh(ttlSeconds) {
    var every = Math.max(30, (ttlSeconds || 900) / 2) * 1000;
    setInterval(function () {
      fetchSession().then(function (session) {
        if (identityOf(session) !== state.identity) {
          window.location.reload(); // signed in or out in another tab
          return;
        }
        state.token = session.token;
      }).catch(function () { /* try again at the next tick */ });
    }, every);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
  });

  document.getElementById("chat-restart").addEventListener("click", function () {
    localStorage.removeItem(SESSION_KEY);
    window.location.reload();
  });

  fetchSession().then(function (session) {
    state.token = session.token;
    state.identity = identityOf(session);
    renderAccount(session);
    connect(session);
    keepTokenFresh(session.token_ttl_seconds);
  }).catch(function () {
    setStatus("offline", "The chat is unavailable right now. Please try again later.");
  });

  // for tests and benchmarks: the conversation id and a way to send
  window.shopChat = {
    sessionId: function () { return state.sessionId; },
    send: send,
  };
})();
