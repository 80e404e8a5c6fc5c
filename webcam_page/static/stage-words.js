// The stage pages' words: STAGE_WORDS and STAGE_EMOTIONS come from /stage/words.js, which the server
// builds from core.present.words (the one table of words). This file only picks the language.
"use strict";

const StageWords = (() => {
  function pick() {
    let stored = null;
    try { stored = window.localStorage ? localStorage.getItem("moodreel.locale") : null; } catch (e) { /* private mode */ }
    if (stored === "en" || stored === "ko") return stored;
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    for (const lang of langs) {
      const tag = String(lang).toLowerCase();
      if (tag.startsWith("ko")) return "ko";
      if (tag.startsWith("en")) return "en";
    }
    return "en";
  }

  let locale = pick();

  function w(key, vars) {
    let text = (STAGE_WORDS[locale] && STAGE_WORDS[locale][key]) || STAGE_WORDS.en[key] || key;
    for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  function emotion(name) {
    return (STAGE_EMOTIONS[locale] || STAGE_EMOTIONS.en)[name] || name;
  }

  function apply(root) {
    for (const el of (root || document).querySelectorAll("[data-word]")) el.textContent = w(el.dataset.word);
    for (const el of (root || document).querySelectorAll("[data-word-emotion]")) el.textContent = emotion(el.dataset.wordEmotion);
  }

  function setLocale(value) {
    locale = value === "ko" ? "ko" : "en";
    try { localStorage.setItem("moodreel.locale", locale); } catch (e) { /* private mode */ }
    document.documentElement.lang = locale;
    apply();
    document.dispatchEvent(new CustomEvent("stage:locale"));
  }

  return { get locale() { return locale; }, w, emotion, apply, setLocale };
})();
