// The kwrec demo page: plain JS, no build step. Keywords come from end users' search logs, so they are
// only ever put into the page with textContent, never parsed as HTML.
"use strict";
(function () {
  const DEBOUNCE_MS = 120;
  const $ = (id) => document.getElementById(id);
  const customerSel = $("customer"), input = $("q"), list = $("suggestions");
  let timer = null, inflight = null, active = -1;

  function api(customer, kind, params) {
    const qs = new URLSearchParams(params).toString();
    return `/v1/${encodeURIComponent(customer)}/${kind}?${qs}`;
  }

  async function getJSON(url, signal) {
    const res = await fetch(url, { signal, headers: { Accept: "application/json" } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
    return body;
  }

  function fill(ol, suggestions, onPick) {
    ol.replaceChildren(...suggestions.map((s) => {
      const li = document.createElement("li");
      li.textContent = s.keyword;
      li.dataset.keyword = s.keyword;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = Number(s.score).toFixed(3);
      li.append(score);
      if (onPick) li.addEventListener("mousedown", (e) => { e.preventDefault(); onPick(s.keyword); });
      return li;
    }));
  }

  function status(msg) { $("status").textContent = msg || ""; }

  async function autocomplete() {
    const q = input.value;
    if (inflight) inflight.abort();
    if (!q.trim()) { list.replaceChildren(); return; }
    inflight = new AbortController();
    try {
      const body = await getJSON(api(customerSel.value, "autocomplete", { q, limit: 10 }), inflight.signal);
      if (body.query !== input.value) return;  // a later keystroke already asked again
      active = -1;
      fill(list, body.suggestions, choose);
      status("");
    } catch (err) {
      if (err.name !== "AbortError") status(err.message);
    }
  }

  async function choose(keyword) {
    input.value = keyword;
    list.replaceChildren();
    $("chosen").textContent = keyword;
    try {
      const body = await getJSON(api(customerSel.value, "related", { q: keyword, limit: 10 }));
      fill($("related"), body.suggestions, choose);
      status("");
    } catch (err) { status(err.message); }
  }

  async function loadLists() {
    const customer = customerSel.value;
    for (const kind of ["popular", "trending"]) {
      try {
        const body = await getJSON(api(customer, kind, { limit: 10 }));
        fill($(kind), body.suggestions, choose);
      } catch (err) { status(err.message); }
    }
  }

  function move(step) {
    const items = list.querySelectorAll("li");
    if (!items.length) return;
    items.forEach((li) => li.classList.remove("active"));
    active = (active + step + items.length) % items.length;
    items[active].classList.add("active");
  }

  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(autocomplete, DEBOUNCE_MS); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { move(1); e.preventDefault(); }
    else if (e.key === "ArrowUp") { move(-1); e.preventDefault(); }
    else if (e.key === "Enter") {
      const li = list.querySelectorAll("li")[active];
      choose(li ? li.dataset.keyword : input.value);
    } else if (e.key === "Escape") { list.replaceChildren(); }
  });
  input.addEventListener("blur", () => setTimeout(() => list.replaceChildren(), 150));
  customerSel.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("customer", customerSel.value);
    history.replaceState(null, "", url);
    $("related").replaceChildren(); $("chosen").textContent = "—";
    loadLists();
    autocomplete();
  });

  async function start() {
    let info = null;
    for (let attempt = 0; attempt < 60 && !info; attempt++) {
      try { info = await getJSON("/version"); }
      catch (err) { status(`waiting for the release: ${err.message}`); await new Promise((r) => setTimeout(r, 1000)); }
    }
    if (!info) return;
    status("");
    $("version").textContent = `model version: ${info.model_version}`;
    customerSel.replaceChildren(...info.customers.map((c) => new Option(c, c)));
    const wanted = new URL(location.href).searchParams.get("customer");
    if (wanted && info.customers.includes(wanted)) customerSel.value = wanted;
    document.body.dataset.ready = "true";
    loadLists();
    if (input.value) autocomplete();
  }
  start();
})();
