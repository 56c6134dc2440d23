// painterly studio: the page's only script. It talks to the REST API alone (/api/...), builds its
// form from GET /api/options (a new option shows up without touching this file) and follows a
// running job through its Server-Sent Events.

const $ = (id) => document.getElementById(id);
const HIDDEN_IN_FORM = new Set(["init"]); // set by the page: content/noise/style or an uploaded result

// --- the access token: from ?token= or #token=, kept for this tab ---------------------------------
const token = (() => {
  const query = new URLSearchParams(location.search).get("token");
  const hash = new URLSearchParams(location.hash.slice(1)).get("token");
  const found = query || hash || sessionStorage.getItem("painterly-token");
  if (found) sessionStorage.setItem("painterly-token", found);
  if (query || hash) history.replaceState(null, "", location.pathname);
  return found;
})();

function withToken(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (token) headers.set("Authorization", "Bearer " + token);
  const response = await fetch(path, { ...options, headers });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { detail: text }; }
  if (!response.ok) throw new Error((body && body.detail) || `${response.status} ${response.statusText}`);
  return body;
}

// --- state -----------------------------------------------------------------------------------------
const state = {
  schema: null,
  content: null,        // File
  styles: [],           // [File]
  job: null,            // the job shown in the stage
  source: null,         // its EventSource
  previewVersion: null,
};

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

function buildForm(schema) {
  const common = $("common-fields");
  const advanced = $("advanced-fields");
  for (const option of schema.options) {
    if (HIDDEN_IN_FORM.has(option.name)) continue;
    (option.common ? common : advanced).append(fieldFor(option));
  }
  const init = schema.options.find((option) => option.name === "init");
  if (init) { // the start image: the words, or a result (see "Continue from this result")
    const label = fieldFor({ ...init, type: "choice", choices: init.words, list: false });
    advanced.prepend(label);
  }
  for (const name of Object.keys(schema.presets)) $("preset").add(new Option(name, name));
  $("preset").addEventListener("change", () => {
    resetForm();
    const values = schema.presets[$("preset").value] || {};
    for (const [name, value] of Object.entries(values)) {
      const input = document.querySelector(`[data-option="${name}"]`);
      if (input) setField(input, value);
    }
  });
}

function resetForm() {
  for (const option of state.schema.options) {
    const input = document.querySelector(`[data-option="${option.name}"]`);
    if (input) setField(input, option.default);
  }
}

// The options that differ from their defaults, as text the server parses with the schema.
function chosenOptions() {
  const chosen = {};
  for (const option of state.schema.options) {
    const input = document.querySelector(`[data-option="${option.name}"]`);
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
function thumbs(container, files) {
  container.replaceChildren(...files.map((file) => {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = file.name || "image";
    return img;
  }));
}

function setContent(file) {
  state.content = file;
  thumbs($("content-thumbs"), file ? [file] : []);
  $("show-content").src = file ? URL.createObjectURL(file) : "";
  updateStart();
}

function setStyles(files) {
  state.styles = files;
  thumbs($("style-thumbs"), files);
  showStyles(files.map((file) => URL.createObjectURL(file)));
  updateStart();
}

function showStyles(urls) {
  $("show-styles").replaceChildren(...urls.map((url) => {
    const img = document.createElement("img");
    img.src = url;
    img.alt = "painting";
    return img;
  }));
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
  $("start").disabled = !(state.schema && state.content && state.styles.length);
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
  $("form-error").textContent = "";
  $("start").disabled = true;
  try {
    const job = await submit(state.content, state.styles, chosenOptions(), null);
    follow(job);
    refreshJobs();
  } catch (error) {
    $("form-error").textContent = error.message;
  } finally {
    updateStart();
  }
}

// --- following a job -----------------------------------------------------------------------------------
function follow(job) {
  if (state.source) state.source.close();
  state.source = null;
  state.previewVersion = null;
  show(job);
  if (job.state === "queued" || job.state === "running") {
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
  const badge = $("state");
  badge.textContent = job.state + (job.position ? ` #${job.position}` : "");
  badge.className = "badge " + job.state;
  $("stat-evaluation").textContent = progress.evaluation ? `evaluation ${progress.evaluation}/${progress.total}` : "";
  $("stat-scale").textContent = progress.scale ? `scale ${progress.scale}/${progress.scales} (${progress.width}×${progress.height})` : "";
  $("stat-losses").textContent = progress.total_loss !== undefined
    ? `content ${fmt(progress.content_loss)} · style ${fmt(progress.style_loss)} · total ${fmt(progress.total_loss)}` : "";
  $("stat-eta").textContent = job.state === "running" && progress.eta !== undefined ? `ETA ${clock(progress.eta)}`
    : (job.state === "finished" && progress.seconds ? `took ${clock(progress.seconds)}` : "");
  const done = job.state === "finished" ? 1 : (progress.total ? progress.evaluation / progress.total : 0);
  $("bar-fill").style.width = `${100 * done}%`;
  $("job-message").textContent = job.message || "";
  const content = withToken(job.urls.content);
  if ($("show-content").getAttribute("src") !== content) $("show-content").src = content;
  const styleUrls = job.urls.styles.map(withToken);
  if ($("show-styles").dataset.job !== job.id) { showStyles(styleUrls); $("show-styles").dataset.job = job.id; }
  const picture = job.urls.result || job.urls.preview;
  if (picture && picture !== state.previewVersion) {
    state.previewVersion = picture;
    $("preview").src = withToken(picture);
  } else if (!picture) {
    $("preview").removeAttribute("src");
  }
  $("placeholder").hidden = !!picture;
  $("result-caption").textContent = job.urls.result ? "Result" : (picture ? "Preview (as it forms)" : "Result");
  $("cancel").disabled = !(job.state === "queued" || job.state === "running");
  const download = $("download");
  download.hidden = !job.urls.download;
  if (job.urls.download) download.href = withToken(job.urls.download);
  $("continue").hidden = !job.urls.result;
  $("resume").hidden = !job.resumable;
  drawCurve((progress.curve || []).map(([x, y]) => [x, y]), progress.total);
  document.querySelectorAll(".job").forEach((item) => item.classList.toggle("selected", item.dataset.id === job.id));
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(2) : value.toFixed(2);
}

// The total loss against evaluations, on a log scale: it falls by orders of magnitude.
function drawCurve(points, total) {
  const canvas = $("curve");
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
  try { show(await api(`/api/jobs/${id}/cancel`, { method: "POST" })); } catch (error) { $("job-message").textContent = error.message; }
  refreshJobs();
}

async function resumeJob(id) {
  try { follow(await api(`/api/jobs/${id}/resume`, { method: "POST" })); } catch (error) { $("job-message").textContent = error.message; }
  refreshJobs();
}

async function deleteJob(id) {
  try { await api(`/api/jobs/${id}`, { method: "DELETE" }); } catch (error) { $("job-message").textContent = error.message; }
  if (state.job && state.job.id === id) { if (state.source) state.source.close(); state.job = null; }
  refreshJobs();
}

async function blob(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const response = await fetch(path, { headers });
  if (!response.ok) throw new Error(`could not fetch ${path}`);
  return response.blob();
}

// A new job on the same photo and paintings whose start image is this result.
async function continueFrom(job) {
  $("job-message").textContent = "";
  try {
    const content = new File([await blob(job.urls.content)], "photo.png", { type: "image/png" });
    const styles = [];
    for (const [index, url] of job.urls.styles.entries()) {
      styles.push(new File([await blob(url)], `painting-${index + 1}.png`, { type: "image/png" }));
    }
    const init = await blob(job.urls.result.split("?")[0]);
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
    $("job-message").textContent = error.message;
  }
}

// --- the list of jobs ------------------------------------------------------------------------------------
function jobCard(job) {
  const item = document.createElement("li");
  item.className = "job";
  item.dataset.id = job.id;
  const pics = document.createElement("div");
  pics.className = "pics";
  const picture = job.urls.result || job.urls.preview;
  for (const url of [job.urls.content, job.urls.styles[0], picture]) {
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = "";
    if (url) img.src = withToken(url);
    pics.append(img);
  }
  pics.addEventListener("click", () => openJob(job.id));
  const s = job.settings;
  const meta = document.createElement("div");
  meta.className = "meta";
  const when = new Date(job.created * 1000).toLocaleString();
  meta.textContent = `${s.size} px · ${s.iterations} evaluations · style weight ${s.style_weight}` +
    (s.preserve_color && s.preserve_color !== "none" ? ` · colours: ${s.preserve_color}` : "") + ` · ${when}`;
  const row = document.createElement("div");
  row.className = "row";
  const badge = document.createElement("span");
  badge.className = "badge " + job.state;
  badge.textContent = job.state;
  row.append(badge);
  const button = (text, action) => {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = text;
    element.addEventListener("click", action);
    row.append(element);
  };
  button("Open", () => openJob(job.id));
  if (job.state === "queued" || job.state === "running") button("Cancel", () => cancelJob(job.id));
  if (job.resumable) button("Resume", () => resumeJob(job.id));
  button("Delete", () => deleteJob(job.id));
  item.append(pics, row, meta);
  if (state.job && state.job.id === job.id) item.classList.add("selected");
  return item;
}

async function openJob(id) {
  try { follow(await api(`/api/jobs/${id}`)); } catch (error) { $("job-message").textContent = error.message; }
}

async function refreshJobs() {
  try {
    const { jobs } = await api("/api/jobs");
    $("jobs").replaceChildren(...jobs.map(jobCard));
    $("jobs-empty").hidden = jobs.length > 0;
  } catch (error) {
    $("jobs-empty").hidden = false;
    $("jobs-empty").textContent = error.message;
  }
}

// --- start-up --------------------------------------------------------------------------------------------
async function main() {
  wireDrop($("drop-content"), $("content-file"), (files) => files.length && setContent(files[0]));
  wireDrop($("drop-style"), $("style-files"), (files) => files.length && setStyles(files));
  $("start").addEventListener("click", start);
  $("cancel").addEventListener("click", () => state.job && cancelJob(state.job.id));
  $("resume").addEventListener("click", () => state.job && resumeJob(state.job.id));
  $("continue").addEventListener("click", () => state.job && continueFrom(state.job));
  try {
    state.schema = await api("/api/options");
    buildForm(state.schema);
  } catch (error) {
    $("form-error").textContent = error.message;
  }
  updateStart();
  drawCurve([], 0);
  await refreshJobs();
  setInterval(refreshJobs, 5000);
}

main();
