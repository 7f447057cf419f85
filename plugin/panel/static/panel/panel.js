// The Kompas panel: reads /panel/view.json for the range in the URL and draws tiles and a chart.
// Every figure and every formatted text comes from the server (Babel); this file only draws.
(function () {
  "use strict";
  const root = document.getElementById("panel");
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const demo = root.dataset.demo === "1";
  let token = root.dataset.token;
  let view = null;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  // A fresh session token for every request: App Bridge inside Shopify admin, the wp-admin page
  // that holds the panel inside WordPress, the demo endpoint outside both.
  async function sessionToken() {
    if (window.shopify && window.shopify.idToken) { token = await window.shopify.idToken(); return token; }
    if (root.dataset.platform === "woocommerce" && window.parent !== window) return wordpressToken();
    if (demo) {
      const r = await fetch("/panel/demo/token", { headers: { Authorization: "Bearer " + token } });
      if (r.ok) token = (await r.json()).token;
    }
    return token;
  }

  window.kompasSessionToken = sessionToken;   // the alerts section (alerts.js) asks the same way

  // The Kompas WordPress plugin's page mints a token (a minute long) for its user on request.
  let tokenRequests = 0;
  function wordpressToken() {
    const origin = root.dataset.frameOrigin;
    return new Promise((resolve) => {
      const id = ++tokenRequests;
      const done = (fresh) => { window.removeEventListener("message", onMessage); clearTimeout(timer); if (fresh) token = fresh; resolve(token); };
      const timer = setTimeout(() => done(null), 5000);
      function onMessage(e) {
        if (e.origin === origin && e.data && e.data.type === "kompas:token" && e.data.id === id) done(e.data.token);
      }
      window.addEventListener("message", onMessage);
      window.parent.postMessage({ type: "kompas:token-request", id: id }, origin);
    });
  }

  // Downloads are links (the browser saves what they answer), and a link's token is the one of
  // its last drawing: Shopify's last a minute. So a download gets a fresh one when it is clicked.
  document.addEventListener("click", async (e) => {
    const link = e.target.closest && e.target.closest("a[download]");
    if (!link || !link.href || link.getAttribute("href") === "#") return;
    if (link.dataset.fresh) { delete link.dataset.fresh; return; }
    e.preventDefault();
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("id_token", await sessionToken());
    link.href = url.toString(); link.dataset.fresh = "1"; link.click();
  }, true);

  function state() {
    const p = new URLSearchParams(window.location.search);
    return {
      range: p.get("range") || "last30", from: p.get("from") || "", to: p.get("to") || "",
      compare: p.get("compare") || "previous", lang: p.get("lang") || root.dataset.language,
      kpi: p.get("kpi") || "net_sales", grain: p.get("grain") || "day",
    };
  }

  function setState(changes, reload) {
    const p = new URLSearchParams(window.location.search);
    for (const [k, v] of Object.entries(changes)) { if (v) p.set(k, v); else p.delete(k); }
    p.delete("id_token");  // never keep a token in a shared link
    const url = window.location.pathname + "?" + p.toString();
    if (reload) { p.set("id_token", token); window.location.assign(window.location.pathname + "?" + p.toString()); return; }
    window.history.replaceState(null, "", url);
  }

  function query(s) {
    const p = new URLSearchParams({ range: s.range, compare: s.compare, lang: s.lang, grain: s.grain });
    if (s.range === "custom") { p.set("from", s.from); p.set("to", s.to); }
    return p;
  }

  async function load() {
    const s = state();
    $("range").value = s.range; $("compare").value = s.compare; $("grain").value = s.grain;
    $("custom").hidden = s.range !== "custom";
    if (s.range === "custom") { $("from").value = s.from; $("to").value = s.to; }
    try {
      const r = await fetch("/panel/view.json?" + query(s), { headers: { Authorization: "Bearer " + await sessionToken() } });
      if (!r.ok) throw new Error((await r.json()).error || r.status);
      view = await r.json();
    } catch (e) {
      $("state").hidden = false; $("state").textContent = strings["error"] + " (" + e.message + ")";
      return;
    }
    render(s);
  }

  function render(s) {
    $("period").textContent = view.range_text + " " + strings["vs"] + " " + view.compare_text;
    const fresh = $("freshness");
    fresh.textContent = view.freshness.stale ? view.freshness.stale_text + " " + view.freshness.text : view.freshness.text;
    fresh.classList.toggle("stale", !!view.freshness.stale);
    if (view.reconciliation) fresh.textContent += " " + view.reconciliation.text;
    $("cart-hint").hidden = !view.cart_hint;   // WooCommerce: orders arrive, carts no longer do
    $("cart-hint").textContent = view.cart_hint ? view.cart_hint.text : "";
    if (backfill(view.backfill)) return;
    $("state").hidden = !view.empty;
    if (view.empty) $("state").textContent = strings["empty"];
    const tiles = $("tiles");
    tiles.replaceChildren(...view.tiles.map((t) => tile(t, s)));
    chart(view.tiles.find((t) => t.key === s.kpi) || view.tiles[0], s);
    sources(s);
    spendList();
    if (document.activeElement !== $("retention-days")) $("retention-days").value = view.retention_days;
    statusList();
    dataRequests();
    const pp = query(s); pp.set("table", "products"); pp.set("id_token", token);
    $("export-products").href = "/panel/export.csv?" + pp;
    $("export-products-xlsx").href = "/panel/export.xlsx?" + pp;
    rows($("products"), view.products.map((r) => [[r.product, ""], [r.items_text, "num"], [r.returns_text, "num"]]),
         strings["products.none"]);
    rows($("mix"), view.customer_mix.map((r) => [[r.label, ""], [r.count_text, "num"], [r.share_text, "num"]]), "");
  }

  // While history is being imported the figures would be partial: show the import instead.
  function backfill(b) {
    const hold = !!(b && b.hold);
    $("backfill").hidden = !hold;
    const note = b ? [b.status === "failed" ? b.text : "", b.note || ""].filter(Boolean).join(" ") : "";
    $("backfill-note").hidden = !note;
    $("backfill-note").textContent = note;
    for (const id of ["tiles", "chart-card", "sources-card", "products-card", "mix-card"]) {
      const el = $(id); if (el) el.hidden = hold;
    }
    if (!hold) return false;
    $("state").hidden = true;
    $("backfill-text").textContent = b.text;
    $("backfill-hold").textContent = b.hold_text;
    const bar = $("backfill-bar");
    if (b.percent === null) bar.removeAttribute("value"); else bar.value = b.percent;
    return true;
  }

  function rows(table, cells, empty) {
    const body = table.tBodies[0];
    if (!cells.length) {
      const tr = document.createElement("tr"); const td = document.createElement("td");
      td.colSpan = table.tHead.rows[0].cells.length; td.textContent = empty; tr.append(td); body.replaceChildren(tr); return;
    }
    body.replaceChildren(...cells.map((row) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of row) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.append(td); }
      return tr;
    }));
  }

  async function send(url, body) {
    const r = await fetch(url + "?lang=" + encodeURIComponent(state().lang), { method: "PUT", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + await sessionToken() } });
    if (!r.ok) { const refused = await r.json(); alert(refused.error_text || refused.error); return false; }
    return true;
  }

  function spendList() {
    $("spend-list").replaceChildren(...view.spend.map((m) => {
      const li = document.createElement("li"); li.textContent = m.month + ": " + m.text; return li;
    }));
  }
  // Shopify's customers/data_requests: each a download of what Kompas holds of the customer.
  function dataRequests() {
    const requests = view.data_requests || [];
    $("datarequests-card").hidden = !requests.length;
    $("datarequests-list").replaceChildren(...requests.map((r) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.className = "button"; link.download = ""; link.textContent = strings["datarequests.download"];
      link.href = r.download + "?" + new URLSearchParams({ id_token: token });
      item.append(r.text + " ", link);
      return item;
    }));
  }

  function statusList() {
    $("statuses-card").hidden = !view.statuses;
    if (!view.statuses || $("statuses-form").contains(document.activeElement)) return;
    const list = $("statuses-list");
    list.replaceChildren(...view.statuses.map((s) => {
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = s.status; box.checked = s.excluded;
      const label = document.createElement("label");
      label.append(box, " " + s.status);
      return label;
    }));
    if (!view.statuses.length) list.textContent = strings["statuses.none"];
  }
  $("statuses-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const statuses = [...$("statuses-list").querySelectorAll("input:checked")].map((b) => b.value);
    if (await send("/panel/excluded-statuses", { statuses })) {
      $("statuses-status").textContent = strings["saved"]; load();
    }
  });
  $("retention-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await send("/panel/retention", { days: $("retention-days").value.trim() })) {
      $("retention-status").textContent = strings["saved"]; load();
    }
  });
  $("spend-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await send("/panel/spend", { month: $("spend-month").value, amount: $("spend-amount").value.trim() || null })) {
      $("spend-status").textContent = strings["saved"]; load();
    }
  });

  let sortBy = "net_sales", sortDown = true;
  function sources(s) {
    const p = query(s); p.set("table", "sources"); p.set("id_token", token);
    $("export-sources").href = "/panel/export.csv?" + p;
    $("export-sources-xlsx").href = "/panel/export.xlsx?" + p;
    const sorted = view.sources.slice().sort((a, b) => {
      const x = sortBy === "source" ? a.source : Number(a[sortBy]), y = sortBy === "source" ? b.source : Number(b[sortBy]);
      return (x < y ? -1 : x > y ? 1 : 0) * (sortDown ? -1 : 1);
    });
    rows($("sources"), sorted.map((r) => [[r.source, ""], [r.orders_text, "num"], [r.net_sales_text, "num"]]),
         strings["sources.none"]);
    for (const th of $("sources").tHead.rows[0].cells) {
      const key = th.querySelector("button").dataset.sort;
      if (key === sortBy) th.setAttribute("aria-sort", sortDown ? "descending" : "ascending"); else th.removeAttribute("aria-sort");
    }
  }
  for (const button of document.querySelectorAll("#sources th button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      sortDown = key === sortBy ? !sortDown : key !== "source"; sortBy = key;
      if (view) sources(state());
    });
  }

  function tile(t, s) {
    const card = document.createElement("div");
    card.className = "card tile"; card.tabIndex = 0; card.setAttribute("role", "button");
    card.dataset.kpi = t.key; card.setAttribute("aria-pressed", String(t.key === s.kpi));
    const head = document.createElement("div"); head.className = "tile-head";
    const label = document.createElement("span"); label.className = "tile-label"; label.textContent = t.label;
    const info = document.createElement("button"); info.type = "button"; info.className = "info"; info.textContent = "i";
    info.setAttribute("aria-label", t.label + ": " + t.info); info.setAttribute("aria-expanded", "false");
    const pop = document.createElement("div"); pop.className = "popover"; pop.hidden = true;
    pop.addEventListener("click", (e) => e.stopPropagation());
    pop.addEventListener("keydown", (e) => e.stopPropagation());
    const text = document.createElement("p"); text.textContent = t.info;
    const form = document.createElement("form"); form.className = "target-form";
    const label2 = document.createElement("label"); label2.textContent = strings["target"] + " ";
    const input = document.createElement("input"); input.inputMode = "decimal"; input.value = t.target || ""; input.name = "target";
    label2.append(input);
    const save = document.createElement("button"); save.type = "submit"; save.className = "button"; save.textContent = strings["target.save"];
    form.append(label2, save);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      await send("/panel/targets", { kpi: t.key, value: input.value.trim() || null });
      load();
    });
    pop.append(text, form);
    info.addEventListener("click", (e) => {
      e.stopPropagation(); pop.hidden = !pop.hidden; info.setAttribute("aria-expanded", String(!pop.hidden));
    });
    head.append(label, info);
    const value = document.createElement("div"); value.className = "tile-value"; value.textContent = t.text;
    const line = document.createElement("div"); line.className = "compare-line";
    if (t.change_text) {
      const badge = document.createElement("span");
      badge.className = "badge " + (t.good === true ? "good" : t.good === false ? "bad" : "");
      const rising = t.change && !t.change.startsWith("-") && Number(t.change) !== 0;
      badge.textContent = (rising ? "▲ " : Number(t.change) === 0 ? "" : "▼ ") + t.change_text;
      line.append(badge, " " + strings["vs"] + " " + t.compare_text);
    } else {
      line.textContent = strings["vs"] + " " + t.compare_text;
    }
    card.append(head, value, line);
    if (t.note) { const note = document.createElement("div"); note.className = "compare-line"; note.textContent = t.note; card.append(note); }
    if (t.progress_text) {
      const goal = document.createElement("div"); goal.className = "compare-line target";
      goal.textContent = strings["target.progress"].replace("{progress}", t.progress_text).replace("{target}", t.target_text);
      card.append(goal);
    }
    card.append(sparkline(t.series), pop);
    const select = () => { setState({ kpi: t.key }); for (const c of document.querySelectorAll(".tile")) c.setAttribute("aria-pressed", String(c === card)); chart(t, state()); };
    card.addEventListener("click", select);
    card.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(); } });
    return card;
  }

  function points(series, width, height, pad, lo, hi) {
    const n = series.length;
    return series.map((v, i) => v === null ? null : [
      pad + (n === 1 ? (width - 2 * pad) / 2 : i * (width - 2 * pad) / (n - 1)),
      height - pad - (hi === lo ? 0.5 : (v - lo) / (hi - lo)) * (height - 2 * pad)]);
  }

  function path(pts) {
    let d = "", pen = false;
    for (const p of pts) { if (!p) { pen = false; continue; } d += (pen ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1); pen = true; }
    return d;
  }

  function sparkline(series) {
    const svg = document.createElementNS(SVG, "svg"); svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 200 36"); svg.setAttribute("preserveAspectRatio", "none"); svg.setAttribute("aria-hidden", "true");
    const vals = series.filter((v) => v !== null);
    if (vals.length) {
      const p = document.createElementNS(SVG, "path");
      p.setAttribute("d", path(points(series, 200, 36, 3, Math.min(...vals), Math.max(...vals))));
      p.setAttribute("fill", "none"); p.setAttribute("stroke", "#005bd3"); p.setAttribute("stroke-width", "1.5");
      svg.append(p);
    }
    return svg;
  }

  function chart(t, s) {
    $("chart-card").hidden = !t.series.length;  // retention has a range figure, no daily series
    if (!t.series.length) return;
    $("chart-title").textContent = t.label + " · " + strings["chart"];
    const p = query(s); p.set("kpi", t.key); p.set("id_token", token);
    $("export").href = "/panel/export.csv?" + p;
    $("export-xlsx").href = "/panel/export.xlsx?" + p;
    const W = 800, H = 260, PAD = 36;
    const all = t.series.concat(t.compare_series).filter((v) => v !== null);
    const lo = Math.min(0, ...all), hi = Math.max(1, ...all);
    const svg = document.createElementNS(SVG, "svg"); svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img"); svg.setAttribute("aria-label", t.label);
    const cmp = document.createElementNS(SVG, "path");
    cmp.setAttribute("d", path(points(t.compare_series, W, H, PAD, lo, hi)));
    cmp.setAttribute("fill", "none"); cmp.setAttribute("stroke", "#8a8a8a"); cmp.setAttribute("stroke-dasharray", "4 4"); cmp.setAttribute("stroke-width", "1.5");
    const pts = points(t.series, W, H, PAD, lo, hi);
    const cur = document.createElementNS(SVG, "path");
    cur.setAttribute("d", path(pts)); cur.setAttribute("fill", "none"); cur.setAttribute("stroke", "#005bd3"); cur.setAttribute("stroke-width", "2");
    const label = (x, y, text, anchor) => { const e = document.createElementNS(SVG, "text"); e.setAttribute("x", x); e.setAttribute("y", y); e.setAttribute("class", "axis"); e.setAttribute("text-anchor", anchor); e.textContent = text; return e; };
    const n = view.date_texts.length;
    svg.append(cmp, cur, label(PAD, H - 8, view.date_texts[0], "start"), label(W - PAD, H - 8, view.date_texts[n - 1], "end"));
    const maxIdx = t.series.indexOf(Math.max(...t.series.filter((v) => v !== null)));
    if (maxIdx >= 0) svg.append(label(PAD - 4, pts[maxIdx][1] + 4, t.series_text[maxIdx], "end"));
    const box = $("chart"); box.replaceChildren(svg);
    const tip = document.createElement("div"); tip.className = "tip"; tip.hidden = true; box.append(tip);
    svg.addEventListener("pointermove", (e) => {
      const r = svg.getBoundingClientRect();
      const x = (e.clientX - r.left) / r.width * W;
      const i = Math.max(0, Math.min(n - 1, Math.round((x - PAD) / ((W - 2 * PAD) / Math.max(1, n - 1)))));
      if (!pts[i]) { tip.hidden = true; return; }
      tip.hidden = false; tip.textContent = view.date_texts[i] + ": " + t.series_text[i];
      tip.style.left = (pts[i][0] / W * r.width) + "px"; tip.style.top = (pts[i][1] / H * r.height) + "px";
    });
    svg.addEventListener("pointerleave", () => { tip.hidden = true; });
  }

  $("range").addEventListener("change", () => {
    const range = $("range").value;
    $("custom").hidden = range !== "custom";
    if (range !== "custom") { setState({ range, from: "", to: "" }); load(); }
  });
  $("apply").addEventListener("click", () => { setState({ range: "custom", from: $("from").value, to: $("to").value }); load(); });
  $("compare").addEventListener("change", () => { setState({ compare: $("compare").value }); load(); });
  $("grain").addEventListener("change", () => { setState({ grain: $("grain").value }); load(); });
  $("language").addEventListener("change", () => setState({ lang: $("language").value }, true));
  document.addEventListener("click", () => { for (const p of document.querySelectorAll(".popover")) p.hidden = true; });
  load();
  setInterval(load, 60000);  // new orders show up without a reload
})();
