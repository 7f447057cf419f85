// The alerts section: firing and past alerts with their figures, rules, channels, test
// notifications and failed deliveries, from /panel/alerts/state.json. Texts come from the server.
(function () {
  "use strict";
  const root = document.getElementById("panel");
  const section = document.getElementById("alerts");
  if (!root || !section) return;
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const $ = (id) => document.getElementById(id);
  const lang = () => new URLSearchParams(window.location.search).get("lang") || root.dataset.language;
  // panel.js's: App Bridge in Shopify admin, the plugin's page in wp-admin, the demo endpoint
  const sessionToken = window.kompasSessionToken;

  async function call(method, path, body) {
    const headers = { Authorization: "Bearer " + await sessionToken() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch("/panel/alerts" + path + (path.includes("?") ? "&" : "?") + "lang=" + lang(),
      { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error_text || data.error || r.status);   // error_text: in the merchant's language
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k in node) node[k] = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c === null || c === undefined ? "" : c);
    return node;
  }

  // A number as the merchant types it in the panel's language: Dutch "1.250,50" or "1250,5", English
  // "1,250.50" or "1250.5"; anything else (a Dutch "1.5": one and a half, or fifteen?) is refused
  // rather than guessed: the error names the form the language expects
  const NUMBER = { nl: /^-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$/, en: /^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$/ };
  function typedNumber(text) {
    const typed = text.trim().replace(/\s/g, "");
    const nl = lang() === "nl";
    if (!NUMBER[nl ? "nl" : "en"].test(typed)) throw new Error(strings["alerts.refused.number"].replace("{value}", typed));
    return nl ? typed.replace(/\./g, "").replace(",", ".") : typed.replace(/,/g, "");
  }

  function shownNumber(stored) {   // a stored "1250.5" as typedNumber reads it back
    if (stored === null || stored === undefined) return "";
    return lang() === "nl" ? String(stored).replace(".", ",") : String(stored);
  }

  function status(text) { $("alerts-status").textContent = text; }

  function localInput(iso) {  // ISO instant → value of a datetime-local input
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function figures(item) {
    const parts = [item.value_text];
    if (item.normal_text) parts.push(strings["alerts.normal"] + " " + item.normal_text);
    if (item.change_text) parts.push(item.change_text);
    return parts.filter(Boolean).join(" · ");
  }

  function drawFiring(firing) {
    const list = $("alerts-firing");
    list.replaceChildren();
    if (!firing.length) { list.append(el("li", { class: "subdued" }, strings["alerts.none_firing"])); return; }
    for (const rule of firing) list.append(el("li", { class: "alert-firing" }, el("strong", {}, rule.title), " — ", figures(rule)));
  }

  function drawEvents(events) {
    const body = $("alerts-events").querySelector("tbody");
    body.replaceChildren();
    for (const e of events) {
      const cause = e.contributor ? " (" + e.contributor.name + ")" : "";
      body.append(el("tr", { "data-event": e.id },
        el("td", {}, e.kind_text, el("br"), el("span", { class: "subdued" }, e.at_text)),
        el("td", {}, e.title + cause),
        el("td", { class: "num" }, e.value_text), el("td", { class: "num" }, e.normal_text),
        el("td", { class: "num" }, e.change_text || "")));
    }
  }

  function drawRules(rules) {
    const body = $("alerts-rules").querySelector("tbody");
    body.replaceChildren();
    for (const rule of rules) {
      const on = el("input", { type: "checkbox", checked: rule.enabled, "aria-label": strings["alerts.enabled"] });
      const size = rule.kind === "threshold"
        ? el("input", { value: shownNumber(rule.threshold), size: 6, inputMode: "decimal", "aria-label": strings["alerts.threshold"] })
        : el("input", { type: "number", min: 0, value: rule.change_pct, "aria-label": strings["alerts.change_pct"] });
      // what the volume counts (orders, carts...) differs by rule: named beside the field
      const volume = el("input", { name: "min_volume", value: shownNumber(rule.min_volume), size: 6, inputMode: "decimal",
        title: strings["alerts.min_volume_help"], "aria-label": strings["alerts.min_volume"] + " (" + rule.volume_text + ")" });
      const forMin = el("input", { type: "number", min: 0, value: rule.for_minutes, "aria-label": strings["alerts.for"] });
      const repeat = el("input", { type: "number", min: 0, value: rule.repeat_minutes, "aria-label": strings["alerts.repeat"] });
      const qStart = el("input", { type: "time", value: rule.quiet_start || "", "aria-label": strings["alerts.quiet"] });
      const qEnd = el("input", { type: "time", value: rule.quiet_end || "", "aria-label": strings["alerts.quiet"] });
      const mute = el("input", { type: "datetime-local", value: localInput(rule.muted_until), "aria-label": strings["alerts.mute"] });
      const save = el("button", { type: "button", class: "button" }, strings["alerts.save"]);
      save.addEventListener("click", async () => {
        const changes = { enabled: on.checked, for_minutes: forMin.value, repeat_minutes: repeat.value,
          quiet_start: qStart.value, quiet_end: qEnd.value,
          muted_until: mute.value ? new Date(mute.value).toISOString() : null };
        try {
          if (rule.kind === "threshold") changes.threshold = typedNumber(size.value); else changes.change_pct = size.value;
          changes.min_volume = typedNumber(volume.value);
          await call("POST", "/rules/" + rule.id, changes); status(strings["saved"]); load();
        } catch (e) { status(e.message); }
      });
      body.append(el("tr", { "data-rule": rule.key },
        el("td", {}, on), el("td", {}, rule.title),
        el("td", {}, el("span", { class: "alert-" + rule.status }, rule.status_text), el("br"),
          el("span", { class: "subdued" }, rule.value_text ? figures(rule) : "")),
        el("td", {}, size), el("td", {}, volume, " ", el("span", { class: "subdued" }, rule.volume_text)), el("td", {}, forMin), el("td", {}, repeat), el("td", {}, qStart, "–", qEnd),
        el("td", {}, mute), el("td", {}, save)));
    }
  }

  function drawChannels(channels) {
    const list = $("alerts-channels");
    list.replaceChildren();
    for (const c of channels) {
      const remove = el("button", { type: "button", class: "button" }, strings["alerts.remove"]);
      remove.addEventListener("click", async () => { await call("DELETE", "/channels/" + c.id); load(); });
      const test = el("button", { type: "button", class: "button" }, strings["alerts.test"]);
      test.addEventListener("click", () => sendTest(c.id));
      const item = el("li", { "data-channel": c.id }, c.kind_text + ": " + c.target + " (" + c.language + ")"
        + (c.secret ? " · secret " + c.secret : ""), " ");
      if (c.kind === "email") {   // each digest switched on or off for this address
        for (const period of ["daily", "weekly"]) {
          const box = el("input", { type: "checkbox", "data-digest": period });
          box.checked = c["digest_" + period];
          box.addEventListener("change", async () => {
            try { await call("POST", "/channels/" + c.id, { ["digest_" + period]: box.checked }); status(strings["saved"]); }
            catch (e) { box.checked = !box.checked; status(e.message); }
          });
          item.append(el("label", {}, box, " " + strings["alerts.digest_" + period]), " ");
        }
      }
      item.append(test, " ", remove);
      list.append(item);
    }
  }

  function drawFailures(failures) {
    const list = $("alerts-failures");
    list.replaceChildren();
    if (!failures.length) { list.append(el("li", { class: "subdued" }, strings["alerts.no_failures"])); return; }
    for (const f of failures) {
      list.append(el("li", { class: "alert-failure" }, f.channel_kind + " " + f.channel + ": " + f.error
        + " (" + f.attempts + "×" + (f.status === "pending" ? ", " + f.next_attempt_text : ", " + f.status) + ")"));
    }
  }

  async function sendTest(channel) {
    status("…");
    try {
      const r = await call("POST", "/test", channel === undefined ? {} : { channel });
      const bad = r.results.filter((x) => x.status !== "sent");
      status(bad.length ? bad.map((x) => x.error).join("; ") : strings["alerts.test_sent"]);
    } catch (e) { status(e.message); }
    load();
  }

  function drawKpis(kpis) {   // the add-rule form's choice, once
    const select = $("alerts-rule-kpi");
    if (select.options.length) return;
    for (const k of kpis) select.append(el("option", { value: k.key }, k.label));
  }

  async function load() {
    try {
      const data = await call("GET", "/state.json");
      drawKpis(data.kpis); drawFiring(data.firing); drawEvents(data.events); drawRules(data.rules);
      drawChannels(data.channels); drawFailures(data.failures);
    } catch (e) { status(strings["alerts.load_failed"] + " (" + e.message + ")"); }
  }

  $("alerts-rule-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    let value;
    try { value = typedNumber($("alerts-rule-value").value); } catch (e) { status(e.message); return; }
    const kind = $("alerts-rule-kind").value;
    const rule = { kpi: $("alerts-rule-kpi").value, window: $("alerts-rule-window").value };
    if (rule.window === "hours") rule.window_hours = $("alerts-rule-hours").value;
    if (kind === "below" || kind === "above") Object.assign(rule, { kind: "threshold", direction: kind, threshold: value });
    else Object.assign(rule, { kind, change_pct: value });
    try { await call("POST", "/rules", rule); $("alerts-rule-value").value = ""; status(strings["saved"]); load(); }
    catch (e) { status(e.message); }
  });

  $("alerts-channel-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call("POST", "/channels", { kind: $("alerts-channel-kind").value, target: $("alerts-channel-target").value,
        language: $("alerts-channel-language").value, digest_daily: $("alerts-channel-daily").checked,
        digest_weekly: $("alerts-channel-weekly").checked });
      $("alerts-channel-target").value = ""; status(strings["saved"]); load();
    } catch (e) { status(e.message); }
  });
  $("alerts-test").addEventListener("click", () => sendTest());
  load();
})();
