// geoxai explorer: plain JavaScript, no framework; every request goes to the server that sent this page.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = { photo: null, countries: [], paths: {}, busy: false, lastTarget: null, touched: {} };
const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function option(select, value, text, title) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text; if (title) o.title = title;
  select.appendChild(o);
  return o;
}

const PLUGIN_SELECTS = { models: "model", explainers: "explainer", segmenters: "segmenter" };

function shortReason(reason) {
  return reason.length > 70 ? `${reason.slice(0, 69)}\u2026` : reason;
}

// One <option> per plugin; one that could not be built here is greyed out with the server's one-line reason.
function fillPlugins(table) {
  for (const [kind, id] of Object.entries(PLUGIN_SELECTS)) {
    const select = $(id);
    for (const row of table[kind]) {
      let o = select.querySelector(`option[value="${CSS.escape(row.name)}"]`);
      if (!o) o = option(select, row.name, row.name, row.description);
      o.disabled = row.ok === false;
      o.textContent = row.ok === false ? `${row.name} \u2014 cannot load: ${shortReason(row.reason)}` : row.name;
      o.title = row.ok === false ? row.reason : row.description;
      o.classList.toggle("unavailable", row.ok === false);
    }
  }
  for (const kind of ["model", "explainer"]) {  // start on (or move to) a choice that works offline
    const select = $(kind), wanted = table.defaults[kind];
    const current = select.selectedOptions[0];
    if (wanted && (!state.touched[kind] || (current && current.disabled))) select.value = wanted;
  }
}

async function loadPlugins() {
  const table = await api("/api/plugins");
  fillPlugins(table);
  for (const kind of ["model", "explainer"]) $(kind).addEventListener("change", () => { state.touched[kind] = true; });
  state.explainers = Object.fromEntries(table.explainers.map((r) => [r.name, r.defaults || {}]));
  const hint = () => {
    const d = state.explainers[$("explainer").value] || {};
    $("explainer-options").placeholder = Object.entries(d).slice(0, 4).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ") || "key=value, ...";
  };
  $("explainer").addEventListener("change", hint);
  hint();
  if (table.checked) document.body.dataset.pluginsChecked = "1"; else pollPlugins(hint);
}

async function pollPlugins(hint) {  // the server checks which plugins load in the background
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    let table;
    try { table = await api("/api/plugins"); } catch (e) { return; }
    fillPlugins(table);
    hint();
    if (table.checked) { document.body.dataset.pluginsChecked = "1"; return; }
  }
}

async function loadMap() {
  const data = await api("/api/countries");
  const svg = $("map");
  svg.setAttribute("viewBox", data.viewBox);
  const ocean = document.createElementNS(SVG, "path");
  ocean.setAttribute("d", data.outline); ocean.setAttribute("class", "ocean");
  svg.appendChild(ocean);
  const land = document.createElementNS(SVG, "g");
  svg.appendChild(land);
  for (const c of data.countries) {
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", c.d); p.setAttribute("class", "country");
    p.dataset.code = c.code; p.dataset.name = c.name;
    const title = document.createElementNS(SVG, "title");
    title.textContent = c.name; p.appendChild(title);
    p.addEventListener("click", () => explainCountry(c.code));
    land.appendChild(p);
    state.paths[c.code] = p;
  }
  const marks = document.createElementNS(SVG, "g");
  marks.id = "marks"; svg.appendChild(marks);
  state.countries = data.countries.slice().sort((a, b) => a.name.localeCompare(b.name));
  for (const c of state.countries) option($("country-select"), c.code, `${c.name} (${c.code})`);
  $("country-select").addEventListener("change", (e) => { if (e.target.value) explainCountry(e.target.value); });
}

function green(t) {  // 0..1 -> light to dark green, as the matplotlib maps' "Greens"
  const a = [217, 240, 211], b = [0, 68, 27];
  const c = a.map((v, i) => Math.round(v + (b[i] - v) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function paintMap(result) {
  const doc = result.doc, top = (doc.prediction.top_countries || {}).countries || [];
  const max = Math.max(1e-12, ...top.map((r) => r.probability));
  for (const p of Object.values(state.paths)) {
    p.style.fill = ""; p.classList.remove("selected");
    p.querySelector("title").textContent = p.dataset.name;
  }
  for (const row of top) {
    const p = state.paths[row.code];
    if (!p) continue;
    p.style.fill = green(0.15 + 0.85 * row.probability / max);
    p.querySelector("title").textContent = `${row.name}: ${(100 * row.probability).toFixed(1)} %`;
  }
  const m = /^country:(.+)$/.exec(doc.target);
  if (m && state.paths[m[1]]) state.paths[m[1]].classList.add("selected");
  $("legend-max").textContent = `${(100 * max).toFixed(1)} %`;
  const marks = $("marks");
  marks.replaceChildren();
  const cmax = Math.max(1e-12, ...result.cells.map((c) => c.probability));
  for (const cell of result.cells.slice().reverse()) {
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", cell.x); dot.setAttribute("cy", cell.y);
    dot.setAttribute("r", 1.5 + 3.5 * cell.probability / cmax); dot.setAttribute("class", "cell");
    marks.appendChild(dot);
  }
  if (result.cells.length) {
    const best = result.cells[0];
    const star = document.createElementNS(SVG, "text");
    star.setAttribute("x", best.x); star.setAttribute("y", best.y + 3); star.setAttribute("text-anchor", "middle");
    star.setAttribute("class", "star"); star.setAttribute("font-size", "11"); star.textContent = "\u2605";
    marks.appendChild(star);
  }
  const list = $("top-countries");
  list.replaceChildren();
  for (const row of top.slice(0, 10)) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#"; a.className = "link"; a.textContent = row.name;
    a.addEventListener("click", (e) => { e.preventDefault(); explainCountry(row.code); });
    li.append(a, ` ${(100 * row.probability).toFixed(1)} %`);
    list.appendChild(li);
  }
  const ocean = (doc.prediction.top_countries || {}).ocean || 0;
  $("map-caption").textContent = `${doc.prediction.label}` + (ocean > 0.001 ? ` · ocean ${(100 * ocean).toFixed(1)} %` : "");
}

async function uploadPhoto(file) {
  showError("");
  const form = new FormData();
  form.append("photo", file, file.name);
  $("explain").disabled = true;
  try {
    const info = await api("/api/photos", { method: "POST", body: form });
    state.photo = info.photo;
    $("preview").src = info.preview; $("preview").hidden = false;
    $("drop-text").textContent = `${info.name} (${info.width}×${info.height})`;
    $("explain").disabled = false;
    await explain();
  } catch (e) {
    state.photo = null;
    $("preview").hidden = true;
    showError(e.message);
  }
}

function request(target) {
  return {
    photo: state.photo, model: $("model").value, explainer: $("explainer").value, segmenter: $("segmenter").value,
    model_options: $("model-options").value, explainer_options: $("explainer-options").value,
    segmenter_options: $("segmenter-options").value, target: target || $("target").value || "predicted",
  };
}

function explainCountry(code) {
  $("target").value = `country:${code}`;
  $("country-select").value = code;
  if (state.photo) explain(); else showError("upload a photo first");
}

async function explain() {
  if (!state.photo || state.busy) return;
  showError("");
  state.busy = true;
  $("explain").disabled = true;
  $("progress").hidden = false;
  try {
    const { job } = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify(request()) });
    for (;;) {
      const status = await api(`/api/jobs/${job}`);
      $("progress-bar").value = status.progress;
      $("progress-text").textContent = `${status.state === "queued" ? "queued" : status.stage} · ${status.elapsed_s.toFixed(1)} s`;
      if (status.state === "done") { addCard(status); paintMap(status.result); break; }
      if (status.state === "error") { showError(status.error); break; }
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (e) {
    showError(e.message);
  } finally {
    state.busy = false;
    $("explain").disabled = !state.photo;
    $("progress").hidden = true;
  }
}

function addCard(status) {
  const result = status.result, doc = result.doc, pred = doc.prediction;
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.target = doc.target;
  card.querySelector(".title").textContent = `${doc.explainer} · ${doc.target} · ${doc.model}`;
  card.querySelector(".close").addEventListener("click", () => card.remove());
  const country = ((pred.top_countries || {}).countries || [])[0];
  card.querySelector(".prediction").textContent =
    `${pred.label} (lat ${pred.lat.toFixed(3)}, lon ${pred.lon.toFixed(3)}) p=${pred.probability.toFixed(3)}` +
    (country ? ` · top country ${country.name} ${(100 * country.probability).toFixed(1)} %` : "") +
    ` · ${status.elapsed_s.toFixed(1)} s`;
  const asked = /^country:(.+)$/.exec(doc.target);
  if (asked) card.querySelector(".target-country").textContent = targetCountryText(asked[1], pred.top_countries || {});
  card.querySelector(".overlay").src = result.files.overlay;
  const ci = card.querySelector(".ci");
  const scores = ((doc.concept_influence || {}).scores || []).slice(0, 8);
  if (scores.length) {
    const top = Math.max(1.2, ...scores.map((s) => s.ci));
    const head = document.createElement("div");
    head.textContent = "concept influence (ci; 1 = as expected from its size)";
    ci.appendChild(head);
    for (const s of scores) {
      const row = document.createElement("div"); row.className = "row";
      const name = document.createElement("span"); name.className = "name"; name.textContent = s.concept; name.title = s.concept;
      const bar = document.createElement("span"); bar.className = "bar" + (s.ci > 1 ? " high" : "");
      bar.style.width = `${Math.round(170 * s.ci / top)}px`;
      const value = document.createElement("span"); value.textContent = s.ci.toFixed(2);
      row.append(name, bar, value); ci.appendChild(row);
    }
  } else {
    ci.textContent = "choose a segmenter for concept-influence bars";
  }
  const links = card.querySelector(".downloads");
  for (const [kind, label] of [["json", "JSON"], ["npy", ".npy map"], ["figure", "figure"]]) {
    if (!result.files[kind]) continue;
    const a = document.createElement("a");
    a.href = result.files[kind]; a.textContent = label;
    if (kind !== "figure") a.setAttribute("download", ""); else a.target = "_blank";
    links.appendChild(a);
  }
  $("results").prepend(card);
}

// The explained (clicked) country and its probability; the prediction lists the ten most probable
// countries with at least 0.01 %, so a country not among them is "below" the last one listed.
function targetCountryText(code, top) {
  const rows = top.countries || [];
  const row = rows.find((r) => r.code === code);
  const known = state.countries.find((c) => c.code === code);
  const name = row ? row.name : (known ? known.name : code);
  if (row) return `explained: ${name}, probability ${(100 * row.probability).toFixed(2)} %`;
  const below = rows.length >= 10 ? rows[rows.length - 1].probability : 1e-4;
  return `explained: ${name}, probability below ${(100 * below).toFixed(2)} %`;
}

function setupDrop() {
  const drop = $("drop");
  $("photo-input").addEventListener("change", (e) => { if (e.target.files[0]) uploadPhoto(e.target.files[0]); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    if (e.dataTransfer.files[0]) uploadPhoto(e.dataTransfer.files[0]);
  });
  $("explain").addEventListener("click", () => explain());
}

(async function main() {
  setupDrop();
  try {
    await Promise.all([loadPlugins(), loadMap()]);
    document.body.dataset.ready = "1";
  } catch (e) {
    showError(`could not start: ${e.message}`);
  }
})();
