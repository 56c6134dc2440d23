// painterly studio: the page's only script. It talks to the REST API alone (/api/...), builds its
// form from GET /api/options (a new option shows up without touching this file) and follows a
// running job through its Server-Sent Events.
//
// Pictures: the server sends them with an ETag and Cache-Control: no-cache, and versions their URLs
// (?v=) with the same tag, so an <img> whose URL did not change is left alone, and any fetch of it
// is a revalidation (304, no body). Never add a cache-busting query: it would defeat both.

// --- constants: the job states (as the API spells them) and what the page does with them ----------
const STATES = Object.freeze({
  QUEUED: "queued", RUNNING: "running", FINISHED: "finished", FAILED: "failed",
  CANCELLED: "cancelled", INTERRUPTED: "interrupted", DAMAGED: "damaged",
});
const ACTIVE = Object.freeze([STATES.QUEUED, STATES.RUNNING]); // a job that may still change
const isActive = (job) => ACTIVE.includes(job.state);
const HIDDEN_IN_FORM = new Set(["init"]); // set by the page: content/noise/style or an uploaded result
const REFRESH_MS = 5000; // how often the list of jobs is brought up to date

// --- every element the script touches, looked up once ------------------------------------------------
const elements = Object.freeze({
  contentFile: document.getElementById("content-file"),
  styleFiles: document.getElementById("style-files"),
  dropContent: document.getElementById("drop-content"),
  dropStyle: document.getElementById("drop-style"),
  contentThumbs: document.getElementById("content-thumbs"),
  styleThumbs: document.getElementById("style-thumbs"),
  preset: document.getElementById("preset"),
  commonFields: document.getElementById("common-fields"),
  advancedFields: document.getElementById("advanced-fields"),
  start: document.getElementById("start"),
  formError: document.getElementById("form-error"),
  showContent: document.getElementById("show-content"),
  showStyles: document.getElementById("show-styles"),
  preview: document.getElementById("preview"),
  placeholder: document.getElementById("placeholder"),
  resultCaption: document.getElementById("result-caption"),
  state: document.getElementById("state"),
  statEvaluation: document.getElementById("stat-evaluation"),
  statScale: document.getElementById("stat-scale"),
  statLosses: document.getElementById("stat-losses"),
  statEta: document.getElementById("stat-eta"),
  barFill: document.getElementById("bar-fill"),
  jobMessage: document.getElementById("job-message"),
  curve: document.getElementById("curve"),
  cancel: document.getElementById("cancel"),
  download: document.getElementById("download"),
  continue: document.getElementById("continue"),
  resume: document.getElementById("resume"),
  jobs: document.getElementById("jobs"),
  jobsEmpty: document.getElementById("jobs-empty"),
});

// --- everything the page knows ------------------------------------------------------------------------
const state = {
  token: null,          // the access token (from ?token= or #token=, kept for this tab)
  schema: null,         // GET /api/options
  content: null,        // File: the photo picked for the next job
  styles: [],           // [File]: the paintings picked for it
  job: null,            // the job shown in the stage
  source: null,         // its EventSource
  previewUrl: null,     // the picture URL the stage shows (changes only when the picture does)
  cards: new Map(),     // job id -> { item, pictures: [img], badge, meta, row, actions } in the list
};

// --- the access token ------------------------------------------------------------------------------------
state.token = (() => {
  const query = new URLSearchParams(location.search).get("token");
  const hash = new URLSearchParams(location.hash.slice(1)).get("token");
  const found = query || hash || sessionStorage.getItem("painterly-token");
  if (found) sessionStorage.setItem("painterly-token", found);
  if (query || hash) history.replaceState(null, "", location.pathname);
  return found;
})();

function withToken(path) {
  if (!state.token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(state.token);
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", "Bearer " + state.token);
  const response = await fetch(path, { ...options, headers });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { detail: text }; }
  if (!response.ok) throw new Error((body && body.detail) || `${response.status} ${response.statusText}`);
  return body;
}

// --- pictures: every object URL belongs to one <img> and is revoked when it is replaced or goes ------
function forget(img) {
  if (img.dataset.objectUrl) {
    URL.revokeObjectURL(img.dataset.objectUrl);
    delete img.dataset.objectUrl;
  }
}

// Show a File/Blob, a URL or nothing in an <img>; an unchanged URL is left alone (no request at all).
function setPicture(img, source) {
  if (typeof source === "string") {
    if (img.getAttribute("src") === source) return;
    forget(img);
    img.src = source;
  } else if (source) {
    forget(img);
    img.dataset.objectUrl = URL.createObjectURL(source);
    img.src = img.dataset.objectUrl;
  } else {
    forget(img);
    img.removeAttribute("src");
  }
}

function picture(source, alt) {
  const img = document.createElement("img");
  img.alt = alt;
  setPicture(img, source);
  return img;
}

// Replace a container's pictures, revoking the object URLs of those that leave.
function replacePictures(container, images) {
  container.querySelectorAll("img").forEach(forget);
  container.replaceChildren(...images);
}

// --- the form, generated from the option schema ----------------------------------------------------
function fieldFor(option) {
  const label = document.createElement("label");
  label.className = "field";
  label.title = option.help + (option.bounds ? ` (${option.bounds})` : "");
  const name = document.createElement("span");
  name.textContent = option.label;
  let input;
  if (option.type === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = !!option.default;
    label.classList.add("check");
    label.append(input, name);
  } else if (option.type === "choice" && !option.list) {
    input = document.createElement("select");
    for (const choice of option.choices) input.add(new Option(choice, choice));
    input.value = option.default;
    label.append(name, input);
  } else {
    input = document.createElement("input");
    const numeric = (option.type === "integer" || option.type === "number") && !option.list;
    input.type = numeric ? "number" : "text";
    if (numeric) {
      input.step = option.type === "integer" ? "1" : "any";
      if (option.low !== null) input.min = option.low;
      if (option.high !== null) input.max = option.high;
    }
    input.value = formatValue(option.default);
    input.placeholder = option.nullable ? "default" : "";
    if (option.list) label.classList.add("wide");
    label.append(name, input);
  }
  input.name = option.name;
  input.dataset.option = option.name;
  return label;
}

function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

function readField(input) {
  return input.type === "checkbox" ? String(input.checked) : input.value.trim();
}

function setField(input, value) {
  if (input.type === "checkbox") input.checked = !!value;
  else input.value = formatValue(value);
}

// The form's input of an option (the form is generated, so these are looked up by option name).
function optionInput(name) {
  return document.querySelector(`[data-option="${name}"]`);
}

function buildForm(schema) {
  for (const option of schema.options) {
    if (HIDDEN_IN_FORM.has(option.name)) continue;
    (option.common ? elements.commonFields : elements.advancedFields).append(fieldFor(option));
  }
  const init = schema.options.find((option) => option.name === "init");
  if (init) { // the start image: the words, or a result (see "Continue from this result")
    const label = fieldFor({ ...init, type: "choice", choices: init.words, list: false });
    elements.advancedFields.prepend(label);
  }
  for (const name of Object.keys(schema.presets)) elements.preset.add(new Option(name, name));
  elements.preset.addEventListener("change", () => {
    resetForm();
    const values = schema.presets[elements.preset.value] || {};
    for (const [name, value] of Object.entries(values)) {
      const input = optionInput(name);
      if (input) setField(input, value);
    }
  });
}

function resetForm() {
  for (const option of state.schema.options) {
    const input = optionInput(option.name);
    if (input) setField(input, option.default);
  }
}

// The options that differ from their defaults, as text the server parses with the schema.
function chosenOptions() {
  const chosen = {};
  for (const option of state.schema.options) {
    const input = optionInput(option.name);
    if (!input) continue;
    const value = readField(input);
    if (value === "" && option.nullable) continue;
    if (value !== formatValue(option.default) && !(option.type === "boolean" && value === String(!!option.default))) {
      chosen[option.name] = value;
    }
  }
  return chosen;
}

// --- picking images ----------------------------------------------------------------------------------
function setContent(file) {
  state.content = file;
  replacePictures(elements.contentThumbs, file ? [picture(file, file.name || "image")] : []);
  setPicture(elements.showContent, file);
  updateStart();
}

function setStyles(files) {
  state.styles = files;
  replacePictures(elements.styleThumbs, files.map((file) => picture(file, file.name || "image")));
  showStyles(files);
  delete elements.showStyles.dataset.job;
  updateStart();
}

// The paintings in the stage: Files (just picked) or URLs (a job's).
function showStyles(sources) {
  replacePictures(elements.showStyles, sources.map((source) => picture(source, "painting")));
}

function wireDrop(zone, input, onFiles) {
  input.addEventListener("change", () => onFiles([...input.files]));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    onFiles([...event.dataTransfer.files].filter((file) => file.type.startsWith("image/")));
  });
}

function updateStart() {
  elements.start.disabled = !(state.schema && state.content && state.styles.length);
}

// --- starting a job ----------------------------------------------------------------------------------
async function submit(content, styles, options, init) {
  const form = new FormData();
  form.append("content", content, content.name || "photo.png");
  styles.forEach((style, index) => form.append("style", style, style.name || `painting-${index + 1}.png`));
  if (init) form.append("init", init, "init.png");
  form.append("options", JSON.stringify(options));
  return api("/api/jobs", { method: "POST", body: form });
}

async function start() {
  elements.formError.textContent = "";
  elements.start.disabled = true;
  try {
    const job = await submit(state.content, state.styles, chosenOptions(), null);
    follow(job);
    refreshJobs();
  } catch (error) {
    elements.formError.textContent = error.message;
  } finally {
    updateStart();
  }
}

// --- following a job -----------------------------------------------------------------------------------
function stopFollowing() {
  if (state.source) state.source.close();
  state.source = null;
}

function follow(job) {
  stopFollowing();
  state.previewUrl = null;
  show(job);
  if (isActive(job)) {
    const source = new EventSource(withToken(job.urls.events));
    source.addEventListener("progress", (event) => show(JSON.parse(event.data)));
    source.addEventListener("end", () => { source.close(); refreshJobs(); reload(job.id); });
    source.onerror = () => { source.close(); setTimeout(() => reload(job.id, true), 1500); };
    state.source = source;
  }
}

async function reload(id, resubscribe = false) {
  try {
    const job = await api(`/api/jobs/${id}`);
    if (state.job && state.job.id === id) (resubscribe ? follow : show)(job);
  } catch { /* deleted */ }
}

function clock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function show(job) {
  state.job = job;
  const progress = job.progress || {};
  const finished = job.state === STATES.FINISHED;
  elements.state.textContent = job.state + (job.position ? ` #${job.position}` : "");
  elements.state.className = "badge " + job.state;
  elements.statEvaluation.textContent = progress.evaluation ? `evaluation ${progress.evaluation}/${progress.total}` : "";
  elements.statScale.textContent = progress.scale
    ? `scale ${progress.scale}/${progress.scales} (${progress.width}×${progress.height})` : "";
  elements.statLosses.textContent = progress.total_loss !== undefined
    ? `content ${fmt(progress.content_loss)} · style ${fmt(progress.style_loss)} · total ${fmt(progress.total_loss)}` : "";
  elements.statEta.textContent = job.state === STATES.RUNNING && progress.eta !== undefined ? `ETA ${clock(progress.eta)}`
    : (finished && progress.seconds ? `took ${clock(progress.seconds)}` : "");
  const done = finished ? 1 : (progress.total ? progress.evaluation / progress.total : 0);
  elements.barFill.style.width = `${100 * done}%`;
  elements.jobMessage.textContent = job.message || "";
  setPicture(elements.showContent, withToken(job.urls.content));
  if (elements.showStyles.dataset.job !== job.id) {
    showStyles(job.urls.styles.map(withToken));
    elements.showStyles.dataset.job = job.id;
  }
  const shown = job.urls.result || job.urls.preview;
  if (shown !== state.previewUrl) { // the URL is versioned by the picture's ETag: equal URL, equal picture
    state.previewUrl = shown;
    setPicture(elements.preview, shown ? withToken(shown) : null);
  }
  elements.placeholder.hidden = !!shown;
  elements.resultCaption.textContent = job.urls.result ? "Result" : (shown ? "Preview (as it forms)" : "Result");
  elements.cancel.disabled = !isActive(job);
  elements.download.hidden = !job.urls.download;
  if (job.urls.download) elements.download.href = withToken(job.urls.download);
  elements.continue.hidden = !job.urls.result;
  elements.resume.hidden = !job.resumable;
  drawCurve((progress.curve || []).map(([x, y]) => [x, y]), progress.total);
  markSelected();
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(2) : value.toFixed(2);
}

// The total loss against evaluations, on a log scale: it falls by orders of magnitude.
function drawCurve(points, total) {
  const canvas = elements.curve;
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 140;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6d655b";
  const usable = points.filter(([, y]) => y > 0 && isFinite(y));
  if (usable.length < 2) { g.fillText("loss curve", 8, 16); return; }
  const logs = usable.map(([, y]) => Math.log10(y));
  const low = Math.min(...logs), high = Math.max(...logs);
  const span = high - low || 1;
  const last = Math.max(total || 0, usable[usable.length - 1][0]);
  const pad = { left: 44, right: 8, top: 10, bottom: 18 };
  const x = (e) => pad.left + ((e - 1) / Math.max(1, last - 1)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - low) / span) * (height - pad.top - pad.bottom);
  g.strokeStyle = "#e2d8c6";
  g.beginPath(); g.moveTo(pad.left, pad.top); g.lineTo(pad.left, height - pad.bottom); g.lineTo(width - pad.right, height - pad.bottom); g.stroke();
  g.fillText(`1e${high.toFixed(1)}`, 4, pad.top + 8);
  g.fillText(`1e${low.toFixed(1)}`, 4, height - pad.bottom);
  g.fillText("total loss (log) by evaluation", pad.left + 6, pad.top + 8);
  g.strokeStyle = "#2f5d8a";
  g.lineWidth = 2;
  g.beginPath();
  usable.forEach(([e], index) => (index ? g.lineTo(x(e), y(logs[index])) : g.moveTo(x(e), y(logs[index]))));
  g.stroke();
}

// --- actions ------------------------------------------------------------------------------------------
async function cancelJob(id) {
  try { show(await api(`/api/jobs/${id}/cancel`, { method: "POST" })); } catch (error) { elements.jobMessage.textContent = error.message; }
  refreshJobs();
}

async function resumeJob(id) {
  try { follow(await api(`/api/jobs/${id}/resume`, { method: "POST" })); } catch (error) { elements.jobMessage.textContent = error.message; }
  refreshJobs();
}

async function deleteJob(id) {
  try { await api(`/api/jobs/${id}`, { method: "DELETE" }); } catch (error) { elements.jobMessage.textContent = error.message; }
  if (state.job && state.job.id === id) { stopFollowing(); state.job = null; }
  refreshJobs();
}

async function blob(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const response = await fetch(path, { headers });
  if (!response.ok) throw new Error(`could not fetch ${path}`);
  return response.blob();
}

// A new job on the same photo and paintings whose start image is this result.
async function continueFrom(job) {
  elements.jobMessage.textContent = "";
  try {
    const content = new File([await blob(job.urls.content)], "photo.png", { type: "image/png" });
    const styles = [];
    for (const [index, url] of job.urls.styles.entries()) {
      styles.push(new File([await blob(url)], `painting-${index + 1}.png`, { type: "image/png" }));
    }
    const init = await blob(job.urls.result); // versioned: the browser's copy, revalidated
    const defaults = Object.fromEntries(state.schema.options.map((option) => [option.name, option.default]));
    const settings = {};
    for (const [name, value] of Object.entries(job.settings)) {
      if (name in defaults && name !== "init" && JSON.stringify(value) !== JSON.stringify(defaults[name])) {
        settings[name] = value === null ? "none" : value;
      }
    }
    follow(await submit(content, styles, settings, init));
    refreshJobs();
  } catch (error) {
    elements.jobMessage.textContent = error.message;
  }
}

// --- the list of jobs: one card per job, made once and updated in place ---------------------------------
function createCard(job) {
  const item = document.createElement("li");
  item.className = "job";
  item.dataset.id = job.id;
  const pics = document.createElement("div");
  pics.className = "pics";
  const pictures = [0, 1, 2].map(() => {
    const img = picture(null, "");
    img.loading = "lazy";
    return img;
  });
  pics.append(...pictures);
  pics.addEventListener("click", () => openJob(job.id));
  const row = document.createElement("div");
  row.className = "row";
  const badge = document.createElement("span");
  row.append(badge);
  const meta = document.createElement("div");
  meta.className = "meta";
  item.append(pics, row, meta);
  return { item, pictures, badge, meta, row, actions: null };
}

// What a card's buttons depend on: they are rebuilt only when this changes.
const actionsOf = (job) => `${isActive(job)}/${job.resumable}`;

function updateCard(card, job) {
  const sources = [job.urls.content, job.urls.styles[0], job.urls.result || job.urls.preview];
  sources.forEach((url, index) => setPicture(card.pictures[index], url ? withToken(url) : null));
  const s = job.settings;
  const when = new Date(job.created * 1000).toLocaleString();
  const text = `${s.size} px · ${s.iterations} evaluations · style weight ${s.style_weight}` +
    (s.preserve_color && s.preserve_color !== "none" ? ` · colours: ${s.preserve_color}` : "") + ` · ${when}`;
  if (card.meta.textContent !== text) card.meta.textContent = text;
  if (card.badge.textContent !== job.state) {
    card.badge.className = "badge " + job.state;
    card.badge.textContent = job.state;
  }
  if (card.actions !== actionsOf(job)) {
    card.actions = actionsOf(job);
    const button = (label, action) => {
      const element = document.createElement("button");
      element.type = "button";
      element.textContent = label;
      element.addEventListener("click", action);
      return element;
    };
    const buttons = [button("Open", () => openJob(job.id))];
    if (isActive(job)) buttons.push(button("Cancel", () => cancelJob(job.id)));
    if (job.resumable) buttons.push(button("Resume", () => resumeJob(job.id)));
    buttons.push(button("Delete", () => deleteJob(job.id)));
    card.row.replaceChildren(card.badge, ...buttons);
  }
}

function removeCard(id) {
  const card = state.cards.get(id);
  card.pictures.forEach(forget);
  card.item.remove();
  state.cards.delete(id);
}

function markSelected() {
  for (const [id, card] of state.cards) card.item.classList.toggle("selected", !!state.job && state.job.id === id);
}

async function openJob(id) {
  try { follow(await api(`/api/jobs/${id}`)); } catch (error) { elements.jobMessage.textContent = error.message; }
}

// Bring the list up to date: new cards made, changed ones updated, gone ones removed, order kept.
async function refreshJobs() {
  try {
    const { jobs } = await api("/api/jobs");
    const ids = new Set(jobs.map((job) => job.id));
    for (const id of [...state.cards.keys()]) if (!ids.has(id)) removeCard(id);
    jobs.forEach((job, index) => {
      if (!state.cards.has(job.id)) state.cards.set(job.id, createCard(job));
      const card = state.cards.get(job.id);
      updateCard(card, job);
      if (elements.jobs.children[index] !== card.item) elements.jobs.insertBefore(card.item, elements.jobs.children[index] || null);
    });
    markSelected();
    elements.jobsEmpty.hidden = jobs.length > 0;
  } catch (error) {
    elements.jobsEmpty.hidden = false;
    elements.jobsEmpty.textContent = error.message;
  }
}

// --- start-up --------------------------------------------------------------------------------------------
async function main() {
  wireDrop(elements.dropContent, elements.contentFile, (files) => files.length && setContent(files[0]));
  wireDrop(elements.dropStyle, elements.styleFiles, (files) => files.length && setStyles(files));
  elements.start.addEventListener("click", start);
  elements.cancel.addEventListener("click", () => state.job && cancelJob(state.job.id));
  elements.resume.addEventListener("click", () => state.job && resumeJob(state.job.id));
  elements.continue.addEventListener("click", () => state.job && continueFrom(state.job));
  try {
    state.schema = await api("/api/options");
    buildForm(state.schema);
  } catch (error) {
    elements.formError.textContent = error.message;
  }
  updateStart();
  drawCurve([], 0);
  await refreshJobs();
  setInterval(() => document.hidden || refreshJobs(), REFRESH_MS);
}

main();
