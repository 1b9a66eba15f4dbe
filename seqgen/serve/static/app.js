// The seqgen page: pick a model, then the views its domain offers. Plain JavaScript, no dependencies.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
let models = [];
let limits = {};
let busy = false;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

function setStatus(message) {
  $("#status").textContent = message || "";
}

// A fetch whose failure is an Error carrying the server's one-line message.
async function call(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error(`the server could not be reached (${e.message})`);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (e) { /* not JSON: keep the status line */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

async function post(path, body) {
  const response = await call(path, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  return response;
}

// Upload files (each checked against the size limit first) into one upload folder; returns its id.
async function upload(files) {
  let group = null;
  for (const file of files) {
    if (file.size > limits.upload_bytes) {
      throw new Error(`${file.name} is larger than the ${limits.upload_bytes / 2 ** 20} MB limit`);
    }
    const query = new URLSearchParams({name: file.name});
    if (group) query.set("group", group);
    const response = await call(`/api/upload?${query}`, {method: "POST", body: file});
    group = (await response.json()).upload;
  }
  return group;
}

// (namedItem: form.elements.length is the number of fields, not the field called "length")
function number(form, name) {
  const value = form.elements.namedItem(name).value.trim();
  return value === "" ? null : Number(value);
}

function sampling(form) {
  const out = {model: $("#model").value};
  for (const name of ["temperature", "top_k", "top_p", "length", "seconds", "num", "seed"]) {
    if (form.elements.namedItem(name)) {
      const value = number(form, name);
      if (value !== null) out[name] = value;
    }
  }
  return out;
}

// Poll the running job's progress while `work` runs; one job at a time from this page.
async function running(label, work) {
  if (busy) {
    showError("busy: wait for the running job to end");
    return;
  }
  busy = true;
  showError("");
  setStatus(`${label}…`);
  document.body.classList.add("busy");
  const poll = setInterval(async () => {
    try {
      const job = (await (await fetch("/api/status")).json()).job;
      if (job) {
        const steps = job.total ? `: step ${job.done} of at most ${job.total}` : "";
        setStatus(`${job.name}${steps} (${job.seconds} s)`);
      }
    } catch (e) { /* the next poll tries again */ }
  }, 400);
  try {
    await work();
    setStatus("");
  } catch (e) {
    setStatus("");
    showError(e.message);
  } finally {
    clearInterval(poll);
    busy = false;
    document.body.classList.remove("busy");
  }
}

// --- compose ---------------------------------------------------------------------------------------
async function compose() {
  const form = $("#compose form");
  const body = sampling(form);
  const file = form.elements.opening.files[0];
  const abc = form.elements.abc.value.trim();
  await running("composing", async () => {
    if (file) body.opening = await upload([file]);
    else if (abc) body.opening = await upload([new File([abc + "\n"], "typed.abc", {type: "text/plain"})]);
    const result = await (await post("/api/compose", body)).json();
    $("#compose-seed").textContent = `Seed ${result.seed}: enter it as the seed to make these samples again ` +
      `(composed in ${result.seconds} s).`;
    const cards = $("#compose-results");
    cards.replaceChildren();
    for (const sample of result.samples) {
      const files = sample.files || {};
      const card = el("article", {class: "card"}, el("h3", {text: `Sample ${sample.index}`}),
        el("p", {class: "meta", text: sample.notes || "no notes: nothing to play"}));
      if (files.audio) {
        card.append(el("audio", {controls: "", preload: "auto", src: result.files_url + files.audio}));
      }
      if (files.image) {
        card.append(el("img", {class: "roll", alt: `piano roll of sample ${sample.index}`,
          src: result.files_url + files.image}));
      }
      const links = el("p", {class: "links"});
      if (files.midi) links.append(el("a", {href: result.files_url + files.midi, download: files.midi, text: "MIDI"}));
      if (files.audio) links.append(el("a", {href: result.files_url + files.audio, download: files.audio, text: "WAV"}));
      card.append(links);
      cards.append(card);
    }
    if (result.notes.length) setStatus(result.notes.join("; "));
  });
}

// --- write (streamed) ------------------------------------------------------------------------------
function unescape(text) {
  return text.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
}

async function write() {
  const form = $("#write form");
  const body = {...sampling(form), prime: form.elements.prime.value, stop: unescape(form.elements.stop.value)};
  const cards = $("#write-results");
  cards.replaceChildren();
  $("#write-seed").textContent = "";
  await running("writing", async () => {
    const response = await post("/api/write", body);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    let outputs = [];
    const handle = (line) => {
      const item = JSON.parse(line);
      if (item.error) throw new Error(item.error);
      if ("prime" in item) {
        $("#write-seed").textContent = `Seed ${item.seed}: enter it as the seed to write these samples again.`;
        outputs = Array.from({length: body.num || 1}, (_, i) => {
          const text = el("pre", {class: "sample", text: item.prime});
          cards.append(el("article", {class: "card"}, el("h3", {text: `Sample ${i + 1}`}), text));
          return text;
        });
      } else if (item.pieces) {
        item.pieces.forEach((piece, i) => { if (piece !== null) outputs[i].textContent += piece; });
      } else if (item.done) {
        item.samples.forEach((text, i) => { outputs[i].textContent = text; outputs[i].classList.add("done"); });
      }
    };
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      pending += decoder.decode(value, {stream: true});
      const lines = pending.split("\n");
      pending = lines.pop();
      lines.filter((line) => line.trim()).forEach(handle);
    }
  });
}

// --- score -----------------------------------------------------------------------------------------
function colour(bits) {
  const hue = 120 - 120 * Math.min(Math.max(bits, 0) / 8, 1);
  return `hsl(${hue} 75% 82%)`;
}

function shown(token) {
  return token === "\n" ? "↵" : token === " " ? "\u00a0" : token;
}

function fmt(x, digits) {
  return x === null || x === undefined ? "–" : x.toFixed(digits);
}

async function score() {
  const form = $("#score form");
  await running("scoring", async () => {
    const result = await (await post("/api/score", {model: $("#model").value, text: form.elements.text.value})).json();
    let rows = result.results;
    if (form.elements.sort.checked) rows = [...rows].sort((a, b) => (b.logprob ?? -Infinity) - (a.logprob ?? -Infinity));
    const table = $("#score-results");
    table.replaceChildren(el("tr", {}, ...["text, tokens coloured by surprisal", "log-prob (nats)", "perplexity",
      "bits/token"].map((h) => el("th", {text: h}))));
    for (const r of rows) {
      const tokens = el("td", {class: "tokens"});
      for (const t of r.surprisal) {
        tokens.append(el("span", {class: "tok", style: `background: ${colour(t.bits)}`, "data-bits": t.bits,
          title: `${JSON.stringify(t.token)}: ${t.bits.toFixed(2)} bits`, text: shown(t.token)}));
      }
      table.append(el("tr", {class: "scored"}, tokens, el("td", {class: "num", text: fmt(r.logprob, 2)}),
        el("td", {class: "num", text: fmt(r.perplexity, 2)}), el("td", {class: "num", text: fmt(r.bits_per_token, 3)})));
    }
  });
}

// --- signals ---------------------------------------------------------------------------------------
async function signals() {
  const form = $("#signals form");
  const files = [...form.elements.recording.files];
  await running("scoring the recording", async () => {
    if (!files.length) throw new Error("choose a recording first");
    const token = await upload(files);
    const window = number(form, "window");
    const body = {model: $("#model").value, upload: token};
    if (window !== null) body.window = window;
    const result = await (await post("/api/signal", body)).json();
    const threshold = result.threshold === null ? "no calibrated threshold" :
      `threshold ${result.threshold.toFixed(3)} bits/sample`;
    $("#signals-summary").textContent = `${result.file}: ${result.seconds} s at ${result.rate} Hz; ` +
      `${result.flagged} of ${result.windows.length} windows flagged (${threshold}).`;
    const flagged = result.windows.filter((w) => w.anomaly);
    const list = el("ul", {class: "flagged"}, ...flagged.map((w) =>
      el("li", {text: `${w.start.toFixed(2)}–${w.end.toFixed(2)} s: ${w.bits_per_sample.toFixed(3)} bits/sample`})));
    $("#signals-results").replaceChildren(
      el("img", {class: "signal", alt: "the recording with each window's surprise under it",
        src: result.files_url + result.image}), list);
  });
}

// --- models and views ------------------------------------------------------------------------------
function showViews() {
  const model = models.find((m) => m.id === $("#model").value);
  const views = model ? model.views : [];
  $("#domain").textContent = model ? model.domain : "";
  let current = document.body.dataset.view;
  if (!views.includes(current)) current = views[0];
  for (const button of document.querySelectorAll("#views button")) {
    button.hidden = !views.includes(button.dataset.view);
    button.classList.toggle("active", button.dataset.view === current);
  }
  for (const view of ["compose", "write", "score", "signals"]) $(`#${view}`).hidden = view !== current;
  $("#no-view").hidden = Boolean(current);
  document.body.dataset.view = current || "";
}

async function start() {
  try {
    const listed = await (await call("/api/models")).json();
    models = listed.models;
    limits = listed.limits;
  } catch (e) {
    showError(e.message);
    return;
  }
  const select = $("#model");
  for (const [label, shipped] of [["shipped models", true], ["your checkpoints", false]]) {
    const group = el("optgroup", {label});
    models.filter((m) => m.shipped === shipped).forEach((m) => group.append(el("option", {value: m.id, text: m.label})));
    if (group.children.length) select.append(group);
  }
  if (!models.length) showError("no models: train one with `seqgen train`, or pass -c CKPT to seqgen serve");
  select.addEventListener("change", showViews);
  for (const button of document.querySelectorAll("#views button")) {
    button.addEventListener("click", () => { document.body.dataset.view = button.dataset.view; showViews(); });
  }
  $("#compose-go").addEventListener("click", compose);
  $("#write-go").addEventListener("click", write);
  $("#score-go").addEventListener("click", score);
  $("#signals-go").addEventListener("click", signals);
  showViews();
  document.body.classList.add("ready");
}

start();
