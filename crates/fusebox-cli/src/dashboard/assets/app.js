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

  // The scan interval as given: 300ms, 2s, 1m 30s.
  function every(seconds) {
    return seconds < 1 ? Math.round(seconds * 1000) + "ms" : duration(seconds);
  }

  function clock(unixSeconds) {
    return new Date(unixSeconds * 1000).toLocaleTimeString();
  }

  function retryIn(b) {
    if (b.state === "open") return b.retry_after === null ? "–" : duration(b.retry_after);
    if (b.state === "half_open") return b.half_open_in_flight > 0 ? "trial running" : "now";
    if (b.state === "forced_open") return "after reset";
    return "–";
  }

  // Rows are kept by name and updated in place, so a button being clicked
  // or a name being selected is not swapped out under the pointer by the
  // next snapshot.
  const rowsByName = new Map();

  function setText(node, value) {
    if (node.textContent !== value) node.textContent = value;
  }

  function makeRow(name) {
    const tr = document.createElement("tr");
    tr.dataset.name = name;
    const cells = LABELS.map((label) => {
      const td = document.createElement("td");
      td.dataset.label = label;
      tr.appendChild(td);
      return td;
    });
    cells[0].className = "name";
    cells[0].textContent = name;
    for (const i of [2, 3, 4, 5]) cells[i].className = "num";
    cells[7].className = "retry";
    cells[8].className = "why";
    cells[10].className = "control";
    const badge = document.createElement("span");
    cells[1].appendChild(badge);
    const list = document.createElement("ol");
    list.className = "transitions";
    cells[9].appendChild(list);
    const buttons = ACTIONS.map(([action, word]) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = word;
      button.dataset.action = action;
      button.addEventListener("click", () => control(name, action, word));
      cells[10].appendChild(button);
      return button;
    });
    return { tr: tr, cells: cells, badge: badge, list: list, buttons: buttons, listKey: "" };
  }

  function updateRow(r, b) {
    const readable = b.state !== "unreadable";
    const n = (v) => (readable && v !== null && v !== undefined ? String(v) : "–");
    if (r.tr.dataset.state !== b.state) {
      r.tr.dataset.state = b.state;
      r.tr.className = "row-" + b.state;
      r.badge.className = "state state-" + b.state;
      r.badge.textContent = b.state.replace("_", "-");
    }
    setText(r.cells[2], n(b.failures));
    setText(r.cells[3], n(b.consecutive_failures));
    setText(r.cells[4], n(b.refusals));
    setText(r.cells[5], n(b.half_open_in_flight));
    setText(r.cells[6], readable ? duration(b.time_in_state) : "–");
    setText(r.cells[7], readable ? retryIn(b) : "–");
    setText(r.cells[8], readable ? (b.reason || "–") : (b.error || "unreadable"));
    const listKey = JSON.stringify(b.transitions || []);
    if (listKey !== r.listKey) {
      r.listKey = listKey;
      r.list.replaceChildren();
      for (const t of b.transitions || []) {
        const li = document.createElement("li");
        li.textContent = clock(t.at) + "  " + t.from.replace("_", "-") + " → " +
          t.to.replace("_", "-") + (t.reason ? " (" + t.reason + ")" : "");
        r.list.appendChild(li);
      }
    }
    for (const button of r.buttons) {
      button.disabled = !token;
      button.title = token ? button.textContent + " " + b.name : "Enter the control token first";
    }
  }

  function render() {
    const filter = $("filter").value.trim().toLowerCase();
    const all = snapshot.breakers || [];
    const shown = all.filter((b) => !filter || b.name.toLowerCase().includes(filter));
    const body = $("rows");
    body.classList.toggle("stale", !!snapshot.error);
    const present = new Set(all.map((b) => b.name));
    for (const [name, r] of Array.from(rowsByName)) {
      if (!present.has(name)) { r.tr.remove(); rowsByName.delete(name); }
    }
    const visible = new Set();
    shown.forEach((b, i) => {
      let r = rowsByName.get(b.name);
      if (!r) { r = makeRow(b.name); rowsByName.set(b.name, r); }
      updateRow(r, b);
      visible.add(r.tr);
      if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
    });
    for (const tr of Array.from(body.children)) if (!visible.has(tr)) tr.remove();
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
      : "read at " + clock(snapshot.at) + ", every " + every(snapshot.interval) +
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
