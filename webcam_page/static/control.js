// The stage's control page: the audience camera streamed over the WebSocket (protocol v1, see
// webcam_page/stage.py), the faces it sees, what the stage shows now, the intended feeling, a live
// chart of the audience's mood per window, and the summary at the end. Frames are sent and forgotten.
"use strict";

(() => {
  const PROTOCOL = 1;
  const FPS = 10;
  const MAX_WIDTH = 1280;
  const JPEG_QUALITY = 0.7;
  const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  const base = location.pathname.replace(/\/+$/, "");
  const $ = (id) => document.getElementById(id);
  const w = (key, vars) => StageWords.w(key, vars);
  const state = {
    ws: null, config: null, stream: null, timer: null, busy: false, windows: [], background: null,
    intended: null, lastAck: null, ackAt: 0, ended: false, summary: null, mini: null, started: performance.now(),
    sent: 0, sentAt: new Map(), // when each frame went out, until its answer: how stale a frame's boxes are
  };
  const FRESH_MS = 600; // boxes of a frame older than this would sit on a moved picture: not drawn

  // --- the socket -------------------------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${base}/ws`);
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    state.sent = 0; // the server numbers frames from 0 on each connection
    state.sentAt.clear();
    ws.addEventListener("message", (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      onMessage(msg);
    });
    ws.addEventListener("close", () => {
      if (state.ws !== ws) return;
      stopCapture();
      if (!state.ended) status(w("stage.control.lost"));
      document.body.dataset.state = state.ended ? "ended" : "lost";
    });
  }

  function send(doc) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ v: PROTOCOL, ...doc }));
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "ready": {
        state.config = msg;
        state.windows = msg.windows.slice();
        state.intended = msg.intended;
        state.summary = msg.summary;
        $("intended").value = msg.intended;
        const link = new URL(msg.stage_path, location.href).href;
        $("stage-link").value = link;
        $("open-stage").href = link;
        $("lead").textContent = w("stage.control.lead", { seconds: msg.window_seconds });
        setBackground(msg.background, msg.windows.length ? msg.windows[msg.windows.length - 1] : null);
        document.body.dataset.state = msg.ended ? "ended" : "ready";
        if (msg.ended) ended(msg);
        drawChart();
        status("");
        break;
      }
      case "ack": {
        state.lastAck = msg;
        state.ackAt = performance.now();
        const sentAt = state.sentAt.get(msg.n);
        for (const n of state.sentAt.keys()) if (n <= msg.n) state.sentAt.delete(n);
        const lag = sentAt === undefined ? Infinity : state.ackAt - sentAt;
        document.body.dataset.lag = String(Math.round(lag));
        drawBoxes(msg, lag <= FRESH_MS);
        break;
      }
      case "dropped":
        for (const n of state.sentAt.keys()) if (n <= msg.n) state.sentAt.delete(n);
        break;
      case "window":
        state.windows.push(msg.window);
        setBackground(msg.background, msg.window);
        drawChart();
        break;
      case "intended":
        state.intended = msg.feeling;
        $("intended").value = msg.feeling;
        setBackground(msg.background, state.windows[state.windows.length - 1] || null);
        break;
      case "ended":
        state.windows = msg.windows.slice();
        state.summary = msg.summary;
        drawChart();
        ended(msg);
        break;
      case "error":
        if (msg.fatal) status(w("stage.control.problem", { detail: msg.message }));
        else console.warn("MoodReel stage:", msg.code, msg.message);
        break;
      default:
        break;
    }
  }

  // --- what the stage shows ---------------------------------------------------------------------

  function setBackground(background, window) {
    state.background = background;
    state.mini = new StageScene.Scene(background);
    const name = StageWords.emotion(background.emotion);
    $("now-emotion").textContent = name;
    document.body.dataset.emotion = background.emotion;
    document.body.dataset.fallback = String(!!background.fallback);
    const detail = $("now-detail");
    if (!background.fallback && window) {
      detail.textContent = w("stage.control.mood", { confidence: Math.round(window.confidence * 100), faces: window.faces });
    } else detail.textContent = "";
    const notice = $("fallback");
    const noFaces = background.fallback && window !== null && background.window !== null;
    notice.hidden = !noFaces;
    if (noFaces) notice.textContent = w("stage.control.fallback", { emotion: name });
    document.body.dataset.windows = String(state.windows.length);
  }

  function drawMini(now) {
    const canvas = $("mini");
    const width = Math.round(canvas.clientWidth / 2) || 160;
    const height = Math.round(canvas.clientHeight / 2) || 90;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    if (state.mini) state.mini.draw(canvas.getContext("2d"), width, height, (now - state.started) / 1000);
    // The countdown to the next window, from the last ack.
    const ack = state.lastAck;
    if (ack && ack.window && ack.window.seconds_left !== null && state.stream && !state.ended) {
      const left = Math.max(0, ack.window.seconds_left - (now - state.ackAt) / 1000);
      $("next").textContent = w("stage.control.next", { n: Math.ceil(left) });
    }
    if (ack && performance.now() - state.ackAt > 2500) $("faces-now").hidden = true;
    requestAnimationFrame(drawMini);
  }

  // --- the camera -------------------------------------------------------------------------------

  function cameraProblem(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") return w("stage.control.camera_denied");
    if (name === "NotFoundError" || name === "OverconstrainedError") return w("stage.control.camera_missing");
    if (name === "InsecureError") return w("stage.control.camera_insecure");
    return w("stage.control.camera_failed", { detail: (err && (err.message || name)) || "?" });
  }

  async function startCamera() {
    $("camera-problem").hidden = true;
    $("start").disabled = true;
    try {
      if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw Object.assign(new Error("insecure"), { name: "InsecureError" });
      }
      state.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
    } catch (err) {
      $("start").disabled = false;
      $("camera-problem").textContent = cameraProblem(err);
      $("camera-problem").hidden = false;
      return;
    }
    const video = $("camera-video");
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    $("camera-placeholder").hidden = true;
    $("start").hidden = true;
    document.body.dataset.state = "streaming";
    startCapture();
  }

  function startCapture() {
    const video = $("camera-video");
    const canvas = $("grab");
    const ctx = canvas.getContext("2d");
    clearInterval(state.timer);
    state.timer = setInterval(() => {
      const ws = state.ws;
      if (state.busy || state.ended || !ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
      if (ws.bufferedAmount > 2 * (state.config ? state.config.max_frame_bytes : 262144)) return;
      const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      state.busy = true;
      canvas.toBlob((blob) => {
        state.busy = false;
        if (blob && ws.readyState === WebSocket.OPEN && !state.ended) {
          ws.send(blob);
          state.sentAt.set(state.sent, performance.now());
          state.sent += 1;
        }
      }, "image/jpeg", JPEG_QUALITY);
    }, 1000 / FPS);
  }

  function stopCapture() {
    clearInterval(state.timer);
    state.timer = null;
  }

  function stopCamera() {
    stopCapture();
    if (state.stream) for (const track of state.stream.getTracks()) track.stop();
    state.stream = null;
  }

  // The boxes of the faces found in the last analysed frame, each in its emotion's chart colour,
  // over the live picture, when that frame is recent enough for them to sit on the faces.
  function drawBoxes(ack, fresh) {
    const video = $("camera-video");
    const canvas = $("boxes");
    const grab = $("grab");
    canvas.width = canvas.clientWidth;
    canvas.height = canvas.clientHeight;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const live = $("faces-now");
    live.hidden = false;
    live.textContent = w("stage.control.faces_now", { faces: ack.faces });
    if (!fresh || !video.videoWidth || !grab.width) return;
    // The video is drawn "contain": find where it sits in the canvas.
    const scale = Math.min(canvas.width / grab.width, canvas.height / grab.height);
    const ox = (canvas.width - grab.width * scale) / 2;
    const oy = (canvas.height - grab.height * scale) / 2;
    ctx.lineWidth = 3;
    ack.boxes.forEach(([x, y, bw, bh], i) => {
      ctx.strokeStyle = STAGE_CHART_COLOURS[ack.emotions[i]] || "#fff";
      ctx.strokeRect(ox + x * scale, oy + y * scale, bw * scale, bh * scale);
    });
  }

  // --- the chart --------------------------------------------------------------------------------

  function hatch(ctx) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const t = tile.getContext("2d");
    t.fillStyle = "#2e2a3c";
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = "#55506a";
    t.lineWidth = 2;
    t.beginPath();
    t.moveTo(0, 8);
    t.lineTo(8, 0);
    t.stroke();
    return ctx.createPattern(tile, "repeat");
  }

  function clock(seconds) {
    const s = Math.round(seconds);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function drawChart() {
    const canvas = $("chart");
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const left = 42, right = width - 10, top = 24, bottom = height - 24;
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = "#b7b2c9";
    ctx.strokeStyle = "#3a3550";
    for (const frac of [0, 0.5, 1]) {
      const y = bottom - frac * (bottom - top);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      ctx.fillText(`${Math.round(frac * 100)}%`, 4, y + 4);
    }
    const windows = state.windows;
    canvas.setAttribute("aria-label", windows.map((x) => `${clock(x.start)} ${StageWords.emotion(x.emotion)}${x.fallback ? " *" : ""}`).join(", "));
    if (!windows.length) {
      ctx.fillText(w("stage.control.chart_empty"), left + 8, (top + bottom) / 2);
      return;
    }
    const shown = windows.slice(-60); // the latest hour at 60 s windows; the summary has them all
    const slot = (right - left) / Math.max(shown.length, 8);
    const pattern = hatch(ctx);
    shown.forEach((win, i) => {
      const x = left + i * slot + 1;
      const barWidth = Math.max(2, slot - 3);
      if (win.fallback) {
        ctx.fillStyle = pattern;
        ctx.fillRect(x, top, barWidth, bottom - top);
      } else {
        let y = bottom;
        for (const emotion of EMOTIONS) {
          const h = (win.means[emotion] || 0) * (bottom - top);
          ctx.fillStyle = STAGE_CHART_COLOURS[emotion];
          ctx.fillRect(x, y - h, barWidth, h);
          y -= h;
        }
      }
      // The window's emotion above its bar (as on the stage): a dot in its colour, its name if it fits.
      ctx.fillStyle = STAGE_CHART_COLOURS[win.emotion];
      ctx.beginPath();
      ctx.arc(x + 6, top - 12, 5, 0, Math.PI * 2);
      ctx.fill();
      ctx.strokeStyle = "rgba(255,255,255,0.5)";
      ctx.lineWidth = 1;
      ctx.stroke();
      const name = StageWords.emotion(win.emotion) + (win.fallback ? " *" : "");
      const full = win.fallback ? name : `${name} ${Math.round(win.confidence * 100)}%`;
      const label = [full, name].find((text) => ctx.measureText(text).width + 16 < barWidth);
      ctx.fillStyle = "#f3f1f8";
      if (label) ctx.fillText(label, x + 14, top - 8);
      ctx.fillStyle = "#b7b2c9";
      if (i === 0 || i === shown.length - 1 || i % Math.ceil(shown.length / 6) === 0) ctx.fillText(clock(win.start), x, bottom + 16);
    });
  }

  function legend() {
    const ul = $("legend");
    ul.replaceChildren();
    for (const emotion of EMOTIONS) {
      const li = document.createElement("li");
      const chip = document.createElement("i");
      chip.style.setProperty("background", STAGE_CHART_COLOURS[emotion]);
      li.append(chip, StageWords.emotion(emotion));
      ul.appendChild(li);
    }
    const li = document.createElement("li");
    const chip = document.createElement("i");
    chip.className = "fallback";
    li.append(chip, w("stage.control.chart_fallback"));
    ul.appendChild(li);
  }

  // --- the end ----------------------------------------------------------------------------------

  function ended(msg) {
    state.ended = true;
    stopCamera();
    document.body.dataset.state = "ended";
    $("start").disabled = true;
    $("end").disabled = true;
    $("next").textContent = w("stage.control.ended");
    const lang = StageWords.locale;
    $("summary-png").src = `${state.summary.png}?lang=${lang}`;
    $("summary-png").alt = w("stage.control.png");
    $("summary-png-link").href = `${state.summary.png}?lang=${lang}`;
    $("summary-csv-link").href = state.summary.csv;
    $("summary-lead").textContent = w("stage.control.summary_lead", { windows: (msg.windows || state.windows).length });
    $("summary").hidden = false;
  }

  function status(text) {
    $("status").textContent = text || "";
  }

  function relabel() {
    StageWords.apply();
    $("lang-toggle").textContent = StageWords.locale === "ko" ? "English" : "한국어";
    if (state.config) $("lead").textContent = w("stage.control.lead", { seconds: state.config.window_seconds });
    if (state.background) setBackground(state.background, state.windows[state.windows.length - 1] || null);
    if (state.ended && state.summary) ended({ windows: state.windows });
    legend();
    drawChart();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.documentElement.lang = StageWords.locale;
    relabel();
    $("lang-toggle").addEventListener("click", () => StageWords.setLocale(StageWords.locale === "ko" ? "en" : "ko"));
    document.addEventListener("stage:locale", relabel);
    $("start").addEventListener("click", startCamera);
    $("end").addEventListener("click", () => {
      if (window.confirm(w("stage.control.end_confirm"))) send({ type: "finish" });
    });
    $("intended").addEventListener("change", () => send({ type: "declare", feeling: $("intended").value }));
    $("copy").addEventListener("click", async () => {
      const input = $("stage-link");
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (e) {
        input.select();
        document.execCommand("copy");
      }
      $("copy").textContent = w("stage.control.copied");
      setTimeout(() => { $("copy").textContent = w("stage.control.copy"); }, 2000);
    });
    window.addEventListener("resize", drawChart);
    requestAnimationFrame(drawMini);
    connect();
  });
})();
