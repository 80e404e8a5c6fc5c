// The stage page: the audience's mood as a full-screen background for the projector.
//
// The cross-fade contract (webcam_page/stage.py sends the backgrounds; the tests rely on this):
// - MoodReelStage.show(background) starts a cross-fade to a background payload from the server
//   (core.stage.background: emotion, fallback, colours, strength, brightness, motion, seed, fade_ms).
// - Two canvases (.layer) are stacked; the incoming one is drawn from the new seed and goes from
//   opacity 0 to 1 over `fade_ms` (a CSS opacity transition, ease-in-out) above the outgoing one,
//   which keeps moving underneath until the fade is over and then stops. A background that arrives
//   mid-fade first completes the running fade at once.
// - document.body.dataset says what is shown: emotion, seed, fallback ("true"/"false"), window,
//   and fading ("true" while a fade runs).
// - Events on document: "stage:background" (detail: the background) when a fade starts,
//   "stage:faded" (detail: the background) when it ends.
// - MoodReelStage.history lists every background shown, with `at` (performance.now()) when its fade
//   started; MoodReelStage.state() gives the layers' opacities and which one is in front.
"use strict";

(() => {
  const SCALE = 0.5; // the canvases draw at half the screen's pixels: the picture is soft anyway
  const base = location.pathname.replace(/\/+$/, "");
  const $ = (id) => document.getElementById(id);
  const layers = [];
  let front = 0;
  let fading = null; // {incoming, timer, background}
  let current = null;
  let lastWindow = null;
  let ended = false;
  const history = [];
  const started = performance.now();

  function setup() {
    for (const id of ["layer-a", "layer-b"]) {
      const el = $(id);
      layers.push({ el, ctx: el.getContext("2d"), scene: null });
      el.style.opacity = "0";
    }
    resize();
    window.addEventListener("resize", resize);
    requestAnimationFrame(frame);
  }

  function resize() {
    for (const layer of layers) {
      layer.el.width = Math.max(1, Math.round(window.innerWidth * SCALE));
      layer.el.height = Math.max(1, Math.round(window.innerHeight * SCALE));
    }
  }

  function frame(now) {
    const t = (now - started) / 1000;
    for (const [i, layer] of layers.entries()) {
      const visible = i === front || (fading && fading.incoming === i);
      if (layer.scene && visible) layer.scene.draw(layer.ctx, layer.el.width, layer.el.height, t);
    }
    requestAnimationFrame(frame);
  }

  function finishFade() {
    if (!fading) return;
    clearTimeout(fading.timer);
    const { incoming, background } = fading;
    const layer = layers[incoming];
    layer.el.style.transition = "none";
    layer.el.style.opacity = "1";
    const old = layers[front];
    if (old !== layer) {
      old.el.style.transition = "none";
      old.el.style.opacity = "0";
      old.scene = null; // the outgoing picture stops
    }
    front = incoming;
    fading = null;
    document.body.dataset.fading = "false";
    document.dispatchEvent(new CustomEvent("stage:faded", { detail: background }));
  }

  function show(background) {
    finishFade();
    const incoming = current === null ? front : 1 - front;
    const layer = layers[incoming];
    layer.scene = new StageScene.Scene(background);
    layer.scene.draw(layer.ctx, layer.el.width, layer.el.height, (performance.now() - started) / 1000);
    layer.el.style.transition = "none";
    layer.el.style.opacity = "0";
    layer.el.style.zIndex = "2";
    if (incoming !== front) layers[front].el.style.zIndex = "1";
    void layer.el.offsetWidth; // start the transition from 0
    const ms = Math.max(0, background.fade_ms | 0);
    layer.el.style.transition = `opacity ${ms}ms ease-in-out`;
    layer.el.style.opacity = "1";
    current = background;
    history.push({ ...background, at: performance.now() });
    const data = document.body.dataset;
    data.emotion = background.emotion;
    data.seed = String(background.seed);
    data.fallback = String(!!background.fallback);
    data.window = background.window === null || background.window === undefined ? "" : String(background.window);
    data.fading = "true";
    fading = { incoming, background, timer: setTimeout(finishFade, ms + 30) };
    caption();
    document.dispatchEvent(new CustomEvent("stage:background", { detail: background }));
  }

  function caption() {
    const el = $("caption");
    if (!current) return;
    const name = StageWords.emotion(current.emotion);
    let text = current.fallback ? StageWords.w("stage.show.intended", { emotion: name }) : name;
    if (!current.fallback && lastWindow) {
      text += ` · ${StageWords.w("stage.control.mood", { confidence: Math.round((current.confidence || 0) * 100), faces: lastWindow.faces })}`;
    }
    el.textContent = text;
  }

  function status(text) {
    $("stage-status").textContent = text || "";
  }

  function connect(delay) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${base}/ws`);
    ws.addEventListener("message", (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (msg.type === "ready") {
        delay = 1000;
        ended = msg.ended;
        lastWindow = msg.window;
        status(msg.window ? "" : StageWords.w("stage.show.waiting"));
        if (!current || current.seed !== msg.background.seed) show(msg.background);
      } else if (msg.type === "background") {
        if (msg.window) {
          lastWindow = msg.window;
          status("");
        }
        show(msg.background);
      } else if (msg.type === "ended") {
        ended = true;
      }
    });
    ws.addEventListener("close", () => {
      if (!ended) status(StageWords.w("stage.show.lost"));
      setTimeout(() => connect(Math.min(10000, delay * 2)), delay);
    });
  }

  function keys(event) {
    if (event.key === "f" || event.key === "F") {
      if (document.fullscreenElement) document.exitFullscreen();
      else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
    } else if (event.key === "c" || event.key === "C") {
      $("caption").hidden = !$("caption").hidden;
    }
  }

  window.MoodReelStage = {
    show,
    history,
    get current() { return current; },
    state() {
      return {
        front,
        fading: !!fading,
        opacity: layers.map((l) => Number(getComputedStyle(l.el).opacity)),
        emotion: current && current.emotion,
        seed: current && current.seed,
      };
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    document.documentElement.lang = StageWords.locale;
    StageWords.apply();
    setup();
    if (new URLSearchParams(location.search).has("caption")) $("caption").hidden = false;
    document.addEventListener("keydown", keys);
    document.addEventListener("dblclick", () => keys({ key: "f" }));
    setTimeout(() => $("keys").classList.add("gone"), 6000);
    connect(1000);
  });
})();
