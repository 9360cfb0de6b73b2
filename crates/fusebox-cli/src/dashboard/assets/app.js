// The fusebox dashboard page: renders the snapshots the server pushes
// (server-sent events from /events), filters them by name, and sends
// control actions with the token. Every value from the store is put in the
// page as text (textContent), never as HTML, so a breaker's name cannot
// become markup.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const ACTIONS = [
    ["trip", "Trip"], ["reset", "Reset"], ["force_open", "Force open"], ["disable", "Disable"],
  ];
  const LABELS = ["Name", "State", "Failures", "In a row", "Refused", "Trials", "In state",
    "Retry in", "Why", "Last transitions", "Control"];
  let snapshot = JSON.parse($("initial").textContent);
  // The token lives in this tab only (never a cookie: a request carries it
  // only when this page's code adds it).
  let token = sessionStorage.getItem("fusebox-token") || "";
  let live = false;

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    let s = Math.ceil(seconds);
    if (s <= 0) return "0s";
    const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
    const parts = [];
    for (const [unit, size] of units) {
      if (s >= size && parts.length < 2) { parts.push(Math.floor(s / size) + unit); s %= size; }
      else if (parts.length) break;
    }
    return parts.join(" ");
  }

  function clock(unixSeconds) {
    return new Date(unixSeconds * 1000).toLocaleTimeString();
  }

  function cell(label, value, className) {
    const td = document.createElement("td");
    td.dataset.label = label;
    if (className) td.className = className;
    if (value instanceof Node) td.appendChild(value); else td.textContent = value;
    return td;
  }

  function stateBadge(state) {
    const span = document.createElement("span");
    span.className = "state state-" + state;
    span.textContent = state.replace("_", "-");
    return span;
  }

  function retryIn(b) {
    if (b.state === "open") return b.retry_after === null ? "–" : duration(b.retry_after);
    if (b.state === "half_open") return b.half_open_in_flight > 0 ? "trial running" : "now";
    if (b.state === "forced_open") return "after reset";
    return "–";
  }

  function transitions(list) {
    const ol = document.createElement("ol");
    ol.className = "transitions";
    for (const t of list || []) {
      const li = document.createElement("li");
      li.textContent = clock(t.at) + "  " + t.from.replace("_", "-") + " → " +
        t.to.replace("_", "-") + (t.reason ? " (" + t.reason + ")" : "");
      ol.appendChild(li);
    }
    return ol;
  }

  function controls(b) {
    const box = document.createElement("span");
    for (const [action, word] of ACTIONS) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = word;
      button.dataset.action = action;
      button.disabled = !token;
      button.title = token ? word + " " + b.name : "Enter the control token first";
      button.addEventListener("click", () => control(b.name, action, word));
      box.appendChild(button);
    }
    return box;
  }

  function row(b) {
    const tr = document.createElement("tr");
    tr.dataset.name = b.name;
    tr.dataset.state = b.state;
    tr.className = "row-" + b.state;
    const readable = b.state !== "unreadable";
    const n = (v) => (readable && v !== null && v !== undefined ? String(v) : "–");
    tr.append(
      cell(LABELS[0], b.name, "name"),
      cell(LABELS[1], stateBadge(b.state), "state-cell"),
      cell(LABELS[2], n(b.failures), "num"),
      cell(LABELS[3], n(b.consecutive_failures), "num"),
      cell(LABELS[4], n(b.refusals), "num"),
      cell(LABELS[5], n(b.half_open_in_flight), "num"),
      cell(LABELS[6], readable ? duration(b.time_in_state) : "–"),
      cell(LABELS[7], readable ? retryIn(b) : "–", "retry"),
      cell(LABELS[8], readable ? (b.reason || "–") : b.error, "why"),
      cell(LABELS[9], transitions(b.transitions)),
      cell(LABELS[10], snapshot.control ? controls(b) : "", "control"),
    );
    return tr;
  }

  function render() {
    const filter = $("filter").value.trim().toLowerCase();
    const all = snapshot.breakers || [];
    const shown = all.filter((b) => !filter || b.name.toLowerCase().includes(filter));
    const body = document.createElement("tbody");
    body.id = "rows";
    if (snapshot.error) body.className = "stale";
    for (const b of shown) body.appendChild(row(b));
    $("rows").replaceWith(body);
    document.body.classList.toggle("hidden-control", !snapshot.control);
    $("token-form").hidden = !snapshot.control;
    $("token-state").textContent = token ? "token set" : "buttons need the token";
    $("store").textContent = snapshot.store;
    const error = $("error");
    error.hidden = !snapshot.error;
    error.textContent = snapshot.error || "";
    const counts = {};
    for (const b of all) counts[b.state] = (counts[b.state] || 0) + 1;
    const summary = [all.length + (all.length === 1 ? " breaker" : " breakers")];
    for (const state of ["open", "half_open", "forced_open", "disabled", "unreadable"]) {
      if (counts[state]) summary.push(counts[state] + " " + state.replace("_", "-"));
    }
    if (filter) summary.push(shown.length + " shown");
    $("counts").textContent = summary.join(" · ");
    const empty = $("empty");
    empty.hidden = all.length > 0 || !snapshot.scan || !!snapshot.error;
    empty.textContent = "No breakers in " + snapshot.store + " yet.";
    $("status").textContent = !snapshot.scan
      ? "reading the store…"
      : "read at " + clock(snapshot.at) + ", every " + duration(snapshot.interval) +
        (live ? " · live" : " · reconnecting…");
  }

  function say(text, bad) {
    const message = $("message");
    message.hidden = false;
    message.textContent = text;
    message.classList.toggle("bad", !!bad);
  }

  async function control(name, action, word) {
    try {
      const response = await fetch("/api/control", {
        method: "POST",
        headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
        body: JSON.stringify({ name: name, action: action }),
        credentials: "omit",
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        say(word + ": circuit '" + name + "' is now " + answer.state.replace("_", "-"));
      } else {
        if (response.status === 401) { token = ""; sessionStorage.removeItem("fusebox-token"); render(); }
        say(word + " '" + name + "' failed: " + (answer.error || response.statusText), true);
      }
    } catch (e) {
      say(word + " '" + name + "' failed: " + e, true);
    }
  }

  $("filter").addEventListener("input", render);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (token) sessionStorage.setItem("fusebox-token", token);
    else sessionStorage.removeItem("fusebox-token");
    render();
  });

  const events = new EventSource("/events");
  events.addEventListener("snapshot", (event) => {
    snapshot = JSON.parse(event.data);
    live = true;
    render();
  });
  // EventSource reconnects by itself; the page says so meanwhile.
  events.addEventListener("error", () => { live = false; render(); });
  render();
})();
