// The webcam session page: claim the link, ask for the camera, stream two phases over the
// WebSocket (protocol v1, see the README), show the result. Frames are sent and forgotten:
// nothing is stored in the browser either.
"use strict";

(() => {
  const PROTOCOL = 1;
  const FPS = 10;
  const MAX_WIDTH = 640;
  const JPEG_QUALITY = 0.75;
  const STIMULUS = [
    { key: "stim.1", cls: "sunrise" },
    { key: "stim.2", cls: "party" },
    { key: "stim.3", cls: "playful" },
    { key: "stim.4", cls: "meadow" },
  ];

  const base = location.pathname.replace(/\/+$/, "");
  const $ = (id) => document.getElementById(id);
  const state = {
    view: "intro",
    ws: null,
    ready: null,
    stream: null,
    config: null,
    phase: null,
    timer: null,
    grabbing: false,
    sent: 0,
    faces: 0,
    frames: 0,
    lastAck: 0,
    result: null,
    group: null, // a movie night member's choice: { open, reveal, problem }
    finished: false,
  };

  // --- views ---------------------------------------------------------------------------------

  function show(view) {
    state.view = view;
    document.body.dataset.state = view;
    for (const el of document.querySelectorAll(".view")) el.hidden = el.id !== `view-${view}`;
    const heading = document.querySelector(`#view-${view} h1`);
    if (heading) heading.focus({ preventScroll: false });
  }

  function status(text) {
    $("status").textContent = text || "";
  }

  function problem(text, canReload) {
    stopCamera();
    clearInterval(state.timer);
    state.finished = true;
    $("problem-text").textContent = text;
    $("reload").hidden = !canReload;
    status("");
    show("problem");
  }

  function declareView(why, canRetry) {
    clearInterval(state.timer);
    $("declare-why").textContent = why || "";
    $("retry-camera").hidden = !canRetry;
    status("");
    show("declare");
  }

  // --- the link: claim it, then open the socket ------------------------------------------------

  async function claim() {
    const response = await fetch(`${base}/claim`, { method: "POST", credentials: "same-origin" });
    let body = {};
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      const code = body.error || "invalid";
      throw new Error(t(`problem.${code}`) !== `problem.${code}` ? t(`problem.${code}`) : body.message || code);
    }
  }

  function connect() {
    if (state.ready) return state.ready;
    state.ready = new Promise((resolve, reject) => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${location.host}${base}/ws`);
      ws.binaryType = "arraybuffer";
      state.ws = ws;
      let opened = false;
      ws.addEventListener("message", (event) => {
        if (typeof event.data !== "string") return;
        let msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (msg.type === "ready") {
          opened = true;
          state.config = msg;
          resolve(msg);
        }
        onMessage(msg);
      });
      ws.addEventListener("close", () => {
        state.ready = null;
        if (!opened) reject(new Error(t("problem.lost")));
        else if (!state.finished) problem(t("problem.lost"), true);
      });
      ws.addEventListener("error", () => { /* a close event follows */ });
    });
    return state.ready;
  }

  function send(doc) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ v: PROTOCOL, ...doc }));
  }

  async function begin() {
    status(t("connecting"));
    await claim();
    return connect();
  }

  // --- messages from the server ----------------------------------------------------------------

  function onMessage(msg) {
    switch (msg.type) {
      case "phase":
        startPhase(msg.phase, msg.seconds);
        break;
      case "ack":
        state.lastAck = performance.now();
        state.faces = msg.faces;
        state.frames = msg.frames;
        faceIndicator(msg.face ? "found" : "missing");
        $("face-count").textContent = t("faces.count", { faces: msg.faces, frames: msg.frames });
        break;
      case "dropped":
        break; // the server was busy; the next frame will do
      case "analysing":
        stopCapture();
        status("");
        show("analysing");
        break;
      case "retry":
        stopCapture();
        declareView(t("retry.body", { base: msg.baseline_faces, stim: msg.stimulus_faces, need: msg.needed }), !!state.stream);
        $("declare-why").prepend(document.createTextNode(`${t("retry.title")}. `));
        break;
      case "result":
        state.finished = true;
        stopCamera();
        renderResult(msg);
        break;
      case "error":
        if (msg.fatal) {
          // "unavailable": the database is away for a moment; a reload resumes the session.
          problem(t(`problem.${msg.code}`) !== `problem.${msg.code}` ? t(`problem.${msg.code}`) : t("problem.generic", { detail: msg.message }), msg.code === "unavailable");
        } else {
          console.warn("MoodReel:", msg.code, msg.message);
        }
        break;
      default:
        break;
    }
  }

  // --- camera and phases -----------------------------------------------------------------------

  async function openCamera() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw Object.assign(new Error("insecure"), { name: "InsecureError" });
    }
    return navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
      audio: false,
    });
  }

  function cameraProblem(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") return t("camera.denied");
    if (name === "NotFoundError" || name === "OverconstrainedError") return t("camera.missing");
    if (name === "InsecureError") return t("camera.insecure");
    return t("camera.failed", { detail: (err && (err.message || name)) || "?" });
  }

  async function startWithCamera() {
    $("start").disabled = true;
    status(t("camera.asking"));
    try {
      state.stream = await openCamera();
    } catch (err) {
      $("start").disabled = false;
      declareView(cameraProblem(err), false);
      return;
    }
    const video = $("preview");
    video.srcObject = state.stream;
    try {
      await begin();
    } catch (err) {
      problem(err.message, false);
      return;
    }
    await video.play().catch(() => {});
    runPhases();
  }

  function runPhases() {
    state.faces = 0;
    state.frames = 0;
    $("face-count").textContent = "";
    faceIndicator("waiting");
    send({ type: "start", phase: "baseline" });
  }

  function startPhase(phase, seconds) {
    state.phase = phase;
    $("phase-title").textContent = t(`phase.${phase}`);
    $("phase-hint").textContent = t(`phase.${phase}.hint`);
    $("stimulus").hidden = phase !== "stimulus";
    document.body.dataset.phase = phase;
    status("");
    if (state.view !== "capture") show("capture");
    startCapture();
    const started = performance.now();
    const total = seconds * 1000;
    let slide = -1;
    clearInterval(state.timer);
    const tick = () => {
      const elapsed = performance.now() - started;
      const left = Math.max(0, total - elapsed);
      const pct = Math.min(100, Math.round((elapsed / total) * 100));
      $("progress").setAttribute("aria-valuenow", String(pct));
      $("progress").firstElementChild.style.setProperty("width", `${pct}%`);
      $("countdown").textContent = t("seconds.left", { n: Math.ceil(left / 1000) });
      if (phase === "stimulus") {
        const index = Math.min(STIMULUS.length - 1, Math.floor((elapsed / total) * STIMULUS.length));
        if (index !== slide) {
          slide = index;
          const stim = $("stimulus");
          stim.className = `stimulus ${STIMULUS[index].cls}`;
          $("stimulus-text").textContent = t(STIMULUS[index].key);
        }
      }
      if (state.lastAck && performance.now() - state.lastAck > 2000) faceIndicator("waiting");
      if (left <= 0) {
        clearInterval(state.timer);
        if (phase === "baseline") send({ type: "start", phase: "stimulus" });
        else {
          stopCapture();
          send({ type: "finish" });
        }
      }
    };
    tick();
    state.timer = setInterval(tick, 100);
  }

  function faceIndicator(kind) {
    const el = $("face");
    el.className = `face ${kind}`;
    el.textContent = t(`face.${kind}`);
  }

  function startCapture() {
    if (state.grabbing || !state.stream) return;
    state.grabbing = true;
    const video = $("preview");
    const canvas = $("grab");
    const ctx = canvas.getContext("2d");
    let busy = false;
    state.grabTimer = setInterval(() => {
      const ws = state.ws;
      if (busy || !ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
      // Keep the socket's send buffer short: a slow link drops frames instead of lagging.
      if (ws.bufferedAmount > 2 * (state.config ? state.config.max_frame_bytes : 262144)) return;
      const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      busy = true;
      canvas.toBlob((blob) => {
        busy = false;
        if (blob && state.grabbing && ws.readyState === WebSocket.OPEN) {
          ws.send(blob);
          state.sent += 1;
        }
      }, "image/jpeg", JPEG_QUALITY);
    }, 1000 / FPS);
  }

  function stopCapture() {
    state.grabbing = false;
    clearInterval(state.grabTimer);
  }

  function stopCamera() {
    stopCapture();
    if (state.stream) for (const track of state.stream.getTracks()) track.stop();
    state.stream = null;
    $("preview").srcObject = null;
  }

  async function declare(feeling) {
    for (const b of document.querySelectorAll(".choice")) b.disabled = true;
    try {
      await (state.ws && state.ws.readyState === WebSocket.OPEN ? Promise.resolve() : begin());
    } catch (err) {
      problem(err.message, false);
      return;
    }
    stopCamera();
    send({ type: "declare", feeling });
  }

  // --- the result ------------------------------------------------------------------------------

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A movie night member chooses whether the group's result names their mood (off by default).
  function renderGroup() {
    const group = state.group;
    $("group-reveal").hidden = !group;
    if (!group) return;
    const check = $("reveal");
    check.checked = !!group.reveal;
    check.disabled = !group.open || !!group.saving;
    let words = group.reveal ? "group.revealed" : "group.hidden";
    if (!group.open) words = "group.closed";
    else if (group.problem) words = group.problem;
    $("reveal-status").textContent = t(words);
  }

  async function toggleReveal() {
    const group = state.group;
    if (!group || !group.open || group.saving) return;
    const show = $("reveal").checked;
    group.saving = true;
    renderGroup();
    $("reveal").checked = show;
    let ok = false;
    try {
      const response = await fetch(`${base}/reveal`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ show }),
      });
      ok = response.ok;
      if (response.status === 409) group.open = false; // the pick was made meanwhile
    } catch (e) { /* offline: say it did not save */ }
    group.saving = false;
    if (ok) group.reveal = show;
    group.problem = ok ? null : "group.failed";
    renderGroup();
  }

  function renderResult(msg) {
    if (msg !== state.result) state.group = msg.group ? { ...msg.group, problem: null } : null;
    state.result = msg;
    const result = msg.result;
    const emotion = result.emotion;
    document.body.dataset.primary = emotion.primary;
    // The summary is computed by the server (core.present.summary), the same as in the chats.
    const summary = msg.summary[LOCALE] || msg.summary.en;
    $("headline").textContent = summary.headline;
    $("method").textContent = summary.method_text;
    $("legend").textContent = summary.legend;
    const sent = $("sent");
    if (msg.platform && msg.platform !== "web") {
      const name = PLATFORM_NAMES[msg.platform] || msg.platform;
      // delivery_note: the server's words when every way to the chat refused ("here it is").
      sent.textContent =
        msg.delivery_note || t(msg.delivered ? "result.sent" : "result.pending", { platform: name });
      sent.hidden = false;
    } else sent.hidden = true;
    renderGroup();

    const bars = $("bars");
    bars.replaceChildren();
    const declared = summary.method === "declared";
    bars.hidden = declared; // a declared feeling was not measured: no bars to show
    $("bars-title").hidden = declared;
    for (const line of declared ? [] : summary.lines) {
      const pct = Math.round((line.level || 0) * 100);
      const li = el("li", line.role === "other" ? "bar" : "bar chosen");
      li.dataset.emotion = line.emotion;
      li.dataset.role = line.role;
      li.appendChild(el("span", "bar-label", line.name));
      const track = el("span", "bar-track");
      const fill = el("span", `bar-fill e-${line.emotion}`);
      fill.style.setProperty("width", `${pct}%`);
      track.appendChild(fill);
      li.appendChild(track);
      const note = line.change_text ? `${pct}% · ${line.change_text}${line.significant ? summary.mark : ""}` : `${pct}%`;
      const noteEl = el("span", "bar-note", note);
      if (line.p) noteEl.title = line.p;
      li.appendChild(noteEl);
      li.setAttribute("aria-label", `${line.name}: ${note}${line.p ? `, ${line.p}` : ""}`);
      bars.appendChild(li);
    }

    const swatches = $("swatches");
    swatches.replaceChildren();
    for (const colour of result.colours) {
      const hex = "#" + colour.rgb.map((c) => Number(c).toString(16).padStart(2, "0")).join("");
      const li = el("li", "swatch");
      const chip = el("span", "chip");
      chip.style.setProperty("background-color", hex);
      li.appendChild(chip);
      const name = LOCALE === "ko" && colour.name_ko ? colour.name_ko : colour.name;
      li.appendChild(el("span", "swatch-name", `${name} · ${Math.round(colour.weight * 100)}%`));
      li.appendChild(el("span", "swatch-hex", hex));
      li.setAttribute("aria-label", `${name}, ${hex}`);
      swatches.appendChild(li);
    }

    const picks = $("picks");
    picks.replaceChildren();
    if (!result.recommendations.length) picks.appendChild(el("li", "small", t("result.nopicks")));
    for (const rec of result.recommendations) {
      const li = el("li", "pick");
      const poster = (msg.posters || {})[String(rec.tmdb_id)] || rec.poster_url;
      const frame = el("div", "poster");
      if (rec.palette && rec.palette.length) {
        frame.style.setProperty("background-image", `linear-gradient(160deg, ${rec.palette.slice(0, 3).join(", ")})`);
      }
      if (poster) {
        const img = el("img");
        img.alt = "";
        img.loading = "lazy";
        img.referrerPolicy = "no-referrer";
        img.addEventListener("error", () => img.remove());
        img.src = poster;
        frame.appendChild(img);
      }
      li.appendChild(frame);
      const info = el("div", "pick-info");
      const title = LOCALE === "ko" && rec.title_ko ? rec.title_ko : rec.title;
      const heading = el("h3", "pick-title");
      const link = rec.watcha_url || rec.tmdb_url;
      if (link) {
        const a = el("a", "", title);
        a.href = link;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        heading.appendChild(a);
      } else heading.textContent = title;
      if (rec.year) heading.appendChild(el("span", "year", ` (${rec.year})`));
      info.appendChild(heading);
      const genreName = (g) => (LOCALE === "ko" && (msg.genres_ko || {})[g]) || g;
      info.appendChild(el("p", "small", (rec.genres || []).map(genreName).join(" · ")));
      info.appendChild(el("p", "match", t("result.match", { n: Math.round(rec.score) })));
      const reason = LOCALE === "ko" && rec.reason_ko ? rec.reason_ko : rec.reason;
      if (reason) info.appendChild(el("p", "reason", reason));
      li.appendChild(info);
      picks.appendChild(li);
    }
    status("");
    show("result");
  }

  // --- wiring ----------------------------------------------------------------------------------

  // A reload after the end: the server still has this browser's result, so show it again.
  async function showEarlierResult() {
    try {
      const response = await fetch(`${base}/result`, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      const body = await response.json();
      if (!body.result || state.ws) return;
      state.finished = true;
      renderResult(body);
    } catch (e) { /* no result: the page starts as usual */ }
  }

  document.addEventListener("DOMContentLoaded", () => {
    show("intro");
    showEarlierResult();
    $("start").addEventListener("click", startWithCamera);
    $("no-camera").addEventListener("click", () => declareView("", false));
    $("reload").addEventListener("click", () => location.reload());
    $("reveal").addEventListener("change", toggleReveal);
    $("retry-camera").addEventListener("click", () => {
      if (!state.stream) return startWithCamera();
      runPhases();
    });
    for (const button of document.querySelectorAll(".choice")) {
      button.addEventListener("click", () => declare(button.dataset.feeling));
    }
    document.addEventListener("moodreel:locale", () => {
      if (state.result) renderResult(state.result);
      if (state.phase && state.view === "capture") {
        $("phase-title").textContent = t(`phase.${state.phase}`);
        $("phase-hint").textContent = t(`phase.${state.phase}.hint`);
      }
    });
  });
})();
