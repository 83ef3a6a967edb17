// The explorer page: plain JavaScript, no build step. State is the info from /api/info and the sliders.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
let pending = null; // the latest sample request wins: older answers are dropped

function showError(message) {
  $("error").textContent = message || "";
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ")
      : body.detail || response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  showError("");
  return body;
}

function postJSON(path, payload) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
}

function drawBars(element, bars) {
  element.replaceChildren();
  if (!bars) return;
  for (const bar of bars) {
    const row = document.createElement("div");
    row.className = "bar";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = bar.factor;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${Math.max(0, Math.min(1, bar.fraction)) * 100}%`;
    track.appendChild(fill);
    const value = document.createElement("span");
    value.textContent = typeof bar.value === "number" ? bar.value.toFixed(3) : bar.value;
    row.append(name, track, value);
    element.appendChild(row);
  }
}

function edits() {
  return [...document.querySelectorAll("#sliders input")]
    .map((input) => ({ index: Number(input.dataset.index), shift: Number(input.value) }))
    .filter((edit) => edit.shift !== 0);
}

async function drawSample() {
  const payload = { seed: Number($("seed").value), truncation: Number($("truncation").value), edits: edits() };
  if (info.segment && $("mask-on").checked) payload.mask_k = Number($("mask-k").value);
  const request = postJSON("/api/sample", payload);
  pending = request;
  try {
    const out = await request;
    if (pending !== request) return;
    $("sample").src = out.image;
    $("mask").hidden = !out.mask;
    if (out.mask) $("mask").src = out.mask;
    drawBars($("readout"), out.readout);
  } catch (e) {
    showError(e.message);
  }
}

function buildSliders(directions) {
  const box = $("sliders");
  const range = directions.shift_range;
  directions.names.slice(0, 32).forEach((name, index) => {
    const row = document.createElement("div");
    row.className = "slider";
    const label = document.createElement("span");
    label.textContent = name;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: -range, max: range, step: range / 20, value: 0 });
    input.dataset.index = index;
    input.id = `direction-${index}`;
    const value = document.createElement("span");
    value.textContent = "0";
    input.addEventListener("input", () => {
      value.textContent = Number(input.value).toFixed(2);
      drawSample();
    });
    row.append(label, input, value);
    box.appendChild(row);
  });
}

async function genes(path, payload) {
  try {
    const out = await postJSON(path, payload);
    $("genes-grid").src = out.image;
    $("genes-grid").title = out.dnas.join("\n");
  } catch (e) {
    showError(e.message);
  }
}

function buildConditional(attributes) {
  const names = Object.keys(attributes);
  if (!names.length) return;
  $("conditional").hidden = false;
  const select = $("attribute");
  for (const name of names) select.add(new Option(name, name));
  const fillValues = () => {
    $("attribute-value").replaceChildren(...attributes[select.value].map((c) => new Option(c, c)));
  };
  select.addEventListener("change", fillValues);
  fillValues();
}

async function invertFile(file) {
  const form = new FormData();
  form.append("file", file);
  try {
    const out = await api("/api/invert", { method: "POST", body: form });
    $("inverted-input").src = out.input;
    $("inverted").src = out.reconstruction;
    $("prediction").textContent = out.prediction === null ? "" : `LARGE prediction: ${out.prediction.toFixed(4)}`;
    drawBars($("inverted-readout"), out.readout);
  } catch (e) {
    showError(e.message);
  }
}

async function sortFiles(files) {
  const form = new FormData();
  for (const file of files) form.append("files", file);
  try {
    const out = await api("/api/sort", { method: "POST", body: form });
    $("sorted").src = out.image;
    $("sorted-values").textContent = out.predictions.map((v) => v.toFixed(3)).join("  ");
  } catch (e) {
    showError(e.message);
  }
}

async function start() {
  info = await api("/api/info");
  $("network").textContent = `${info.network} (${info.resolution}x${info.resolution})`;
  $("seed").max = info.limits.seed;
  $("truncation-label").hidden = !info.truncation;
  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = $("truncation").value;
  });
  $("draw").addEventListener("click", drawSample);
  $("random").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 100000);
    drawSample();
  });
  if (info.segment) {
    $("mask-controls").hidden = false;
    Object.assign($("mask-k"), { max: info.segment.max_k, value: Math.min(info.segment.auto_k, info.segment.max_k) });
    $("mask-on").addEventListener("change", drawSample);
    $("mask-k").addEventListener("change", drawSample);
  }
  if (info.directions) {
    $("directions-panel").hidden = false;
    buildSliders(info.directions);
    $("reset").addEventListener("click", () => {
      document.querySelectorAll("#sliders input").forEach((input) => (input.value = 0));
      drawSample();
    });
  }
  if (info.genes) {
    $("genes-panel").hidden = false;
    $("gene").max = info.genes.genes - 1;
    const seed = () => Number($("seed").value);
    $("sweep").addEventListener("click", () => genes("/api/genes/sweep", { seed: seed(), gene: Number($("gene").value) }));
    $("mutate").addEventListener("click", () =>
      genes("/api/genes/mutate", { seed: seed(), rate: Number($("rate").value), n: 7 }),
    );
    $("gene-sample").addEventListener("click", () =>
      genes("/api/genes/sample", {
        attribute: $("attribute").value,
        value: $("attribute-value").value,
        temperature: Number($("temperature").value),
        seed: seed(),
      }),
    );
    buildConditional(info.genes.attributes);
  }
  if (info.inversion) {
    $("invert-panel").hidden = false;
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files.length) invertFile(e.dataTransfer.files[0]);
    });
    $("file").addEventListener("change", () => $("file").files.length && invertFile($("file").files[0]));
  }
  if (info.regression) {
    $("sort-row").hidden = false;
    $("sort-files").addEventListener("change", () => sortFiles($("sort-files").files));
  }
  drawSample();
}

start().catch((e) => showError(e.message));
