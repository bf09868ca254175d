// The kwrec demo page: plain JS, no build step. Keywords come from end users' search logs, so they are
// only ever put into the page with textContent, never parsed as HTML.
"use strict";
(function () {
  const DEBOUNCE_MS = 120;
  const $ = (id) => document.getElementById(id);
  const customerSel = $("customer"), input = $("q"), list = $("suggestions");
  let timer = null, hideTimer = null, inflight = null, active = -1, lang = "ko", release = null, lastStatus = null;

  const TEXT = {
    ko: {
      customer: "고객사", showScores: "점수 보기", language: "언어", related: "연관 검색어",
      popular: "인기 검색어", trending: "급상승 검색어", placeholder: "검색어를 입력하세요",
      version: (v) => `모델 버전: ${v}`, noSuggestions: "추천 검색어가 없습니다",
      noRelated: "연관 검색어가 없습니다", waiting: (m) => `릴리스를 불러오는 중입니다… (${m})`,
      unknownCustomer: (c) => `알 수 없는 고객사입니다: "${c}" (이 릴리스에 없습니다)`,
      failed: (m) => `오류: ${m}`, notReady: "서비스가 아직 준비되지 않았습니다. 잠시 후 다시 시도하세요.",
    },
    en: {
      customer: "Customer", showScores: "Show scores", language: "Language", related: "Related searches",
      popular: "Popular searches", trending: "Trending searches", placeholder: "Type to search",
      version: (v) => `model version: ${v}`, noSuggestions: "No suggestions",
      noRelated: "No related searches", waiting: (m) => `Waiting for the release… (${m})`,
      unknownCustomer: (c) => `Unknown customer: "${c}" (not in this release)`,
      failed: (m) => `Error: ${m}`, notReady: "The service is not ready yet. Try again shortly.",
    },
  };
  const t = (key, ...args) => { const v = TEXT[lang][key]; return typeof v === "function" ? v(...args) : v; };

  function pickLanguage() {
    const asked = new URL(location.href).searchParams.get("lang");
    if (asked && TEXT[asked]) return asked;
    return (navigator.language || "ko").toLowerCase().startsWith("ko") ? "ko" : "en";
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    $("lang").value = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    input.placeholder = t("placeholder");
    input.setAttribute("aria-label", t("placeholder"));
    if (release) $("version").textContent = t("version", release.model_version);
    if (!$("empty").hidden) $("empty").textContent = t("noSuggestions");
    if (!$("related-empty").hidden) $("related-empty").textContent = t("noRelated");
    if (lastStatus) status(...lastStatus);
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(body.message || `HTTP ${status}`);
      this.status = status; this.code = body.error || "";
    }
  }

  function api(customer, kind, params) {
    const qs = new URLSearchParams(params).toString();
    return `/v1/${encodeURIComponent(customer)}/${kind}?${qs}`;
  }

  async function getJSON(url, signal) {
    const res = await fetch(url, { signal, headers: { Accept: "application/json" } });
    let body = {};
    try { body = await res.json(); } catch (_) { /* a proxy's HTML error page: keep the status */ }
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }

  // The part of the keyword the user's text matched, when that is a plain prefix of the keyword or of one
  // of its words. Korean typed mid-syllable ("아이ㅍ" for 아이폰) matches all but its last character, so
  // that shorter part is highlighted; 초성 and 한/영 matches have no literal overlap and get no highlight.
  function matchedRange(keyword, typed) {
    const kw = keyword.toLowerCase(), q = typed.trim().replace(/\s+/g, " ").toLowerCase();
    if (!q) return null;
    const lastHangul = /[\u3131-\u318e\uac00-\ud7a3]$/.test(q);
    for (const candidate of lastHangul && q.length > 1 ? [q, q.slice(0, -1)] : [q]) {
      if (kw.startsWith(candidate)) return [0, candidate.length];
      const at = kw.indexOf(" " + candidate);
      if (at >= 0) return [at + 1, at + 1 + candidate.length];
    }
    return null;
  }

  function keywordNodes(keyword, typed) {
    const range = typed ? matchedRange(keyword, typed) : null;
    if (!range) return [document.createTextNode(keyword)];
    const mark = document.createElement("mark");
    mark.textContent = keyword.slice(range[0], range[1]);
    return [document.createTextNode(keyword.slice(0, range[0])), mark,
      document.createTextNode(keyword.slice(range[1]))];
  }

  function fill(ol, suggestions, onPick, typed) {
    ol.replaceChildren(...suggestions.map((s) => {
      const li = document.createElement("li");
      li.append(...keywordNodes(s.keyword, typed));
      li.dataset.keyword = s.keyword;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = Number(s.score).toFixed(3);
      li.append(score);
      if (onPick) li.addEventListener("mousedown", (e) => { e.preventDefault(); onPick(s.keyword); });
      return li;
    }));
  }

  function showEmpty(id, key, isEmpty) {
    const el = $(id);
    el.hidden = !isEmpty;
    el.textContent = isEmpty ? t(key) : "";
  }

  function status(key, ...args) {
    lastStatus = key ? [key, ...args] : null;
    const el = $("status");
    el.textContent = key ? t(key, ...args) : "";
    el.className = key && key !== "waiting" ? "error" : "";
  }

  function reportError(err) {
    if (err.name === "AbortError") return;
    if (err.code === "unknown_customer") status("unknownCustomer", customerSel.value);
    else if (err.status === 503) status("notReady");
    else status("failed", err.message);
  }

  async function autocomplete() {
    const q = input.value;
    if (inflight) inflight.abort();
    if (!q.trim()) { list.replaceChildren(); showEmpty("empty", "noSuggestions", false); return; }
    inflight = new AbortController();
    try {
      const body = await getJSON(api(customerSel.value, "autocomplete", { q, limit: 10 }), inflight.signal);
      if (body.query !== input.value) return;  // a later keystroke already asked again
      active = -1;
      fill(list, body.suggestions, choose, q);
      showEmpty("empty", "noSuggestions", body.suggestions.length === 0);
      status(null);
    } catch (err) { reportError(err); }
  }

  async function choose(keyword) {
    input.value = keyword;
    list.replaceChildren();
    showEmpty("empty", "noSuggestions", false);
    $("chosen").textContent = keyword;
    try {
      const body = await getJSON(api(customerSel.value, "related", { q: keyword, limit: 10 }));
      fill($("related"), body.suggestions, choose);
      showEmpty("related-empty", "noRelated", body.suggestions.length === 0);
      status(null);
    } catch (err) { reportError(err); }
  }

  async function loadLists() {
    const customer = customerSel.value;
    for (const kind of ["popular", "trending"]) {
      try {
        const body = await getJSON(api(customer, kind, { limit: 10 }));
        fill($(kind), body.suggestions, choose);
      } catch (err) { reportError(err); }
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
    // While a Korean (or any) IME is composing, Enter and the arrows belong to the IME: Enter commits the
    // syllable being composed, it does not pick. keyCode 229 is what browsers send during composition.
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key === "ArrowDown") { move(1); e.preventDefault(); }
    else if (e.key === "ArrowUp") { move(-1); e.preventDefault(); }
    else if (e.key === "Enter") {
      const li = list.querySelectorAll("li")[active];
      if (li || input.value.trim()) choose(li ? li.dataset.keyword : input.value);
    } else if (e.key === "Escape") { list.replaceChildren(); }
  });
  // Leaving the box hides the list a moment later, so that a click on a suggestion lands first; coming
  // back into the box before then keeps the list.
  input.addEventListener("blur", () => { hideTimer = setTimeout(() => list.replaceChildren(), 150); });
  input.addEventListener("focus", () => clearTimeout(hideTimer));
  customerSel.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("customer", customerSel.value);
    history.replaceState(null, "", url);
    // Once a real customer is picked, the unknown one asked for in the URL is no longer offered.
    [...customerSel.options].filter((o) => !release.customers.includes(o.value)).forEach((o) => o.remove());
    document.body.dataset.ready = "true";
    input.disabled = false;
    status(null);
    $("related").replaceChildren(); $("chosen").textContent = "—";
    showEmpty("related-empty", "noRelated", false);
    loadLists();
    autocomplete();
  });
  $("show-scores").addEventListener("change", (e) => {
    document.body.classList.toggle("show-scores", e.target.checked);
  });
  $("lang").addEventListener("change", (e) => {
    lang = e.target.value;
    const url = new URL(location.href);
    url.searchParams.set("lang", lang);
    history.replaceState(null, "", url);
    applyLanguage();
  });

  async function start() {
    lang = pickLanguage();
    applyLanguage();
    for (let attempt = 0; attempt < 60 && !release; attempt++) {
      try { release = await getJSON("/version"); }
      catch (err) { status("waiting", err.message); await new Promise((r) => setTimeout(r, 1000)); }
    }
    if (!release) return;
    status(null);
    applyLanguage();
    customerSel.replaceChildren(...release.customers.map((c) => new Option(c, c)));
    const wanted = new URL(location.href).searchParams.get("customer");
    if (wanted && !release.customers.includes(wanted)) {
      // Never silently show another customer's keywords: say so, and let the user pick a real one.
      customerSel.prepend(new Option(wanted, wanted));
      customerSel.value = wanted;
      input.disabled = true;
      status("unknownCustomer", wanted);
      document.body.dataset.ready = "error";
      return;
    }
    if (wanted) customerSel.value = wanted;
    document.body.dataset.ready = "true";
    loadLists();
    if (input.value) autocomplete();
  }
  start();
})();
