// The page's language: it follows the browser's preferred one, or the toggle.
"use strict";

// TEXTS (the page's words) and EMOTION_LABELS come from /words.js, built from core.present.words.

const EMOTION_ORDER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const PLATFORM_NAMES = { discord: "Discord", mattermost: "Mattermost", web: "MoodReel" };

function browserLocale() {
  const stored = window.localStorage ? localStorage.getItem("moodreel.locale") : null;
  if (stored === "en" || stored === "ko") return stored;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const lang of langs) {
    const tag = String(lang).toLowerCase();
    if (tag.startsWith("ko")) return "ko";
    if (tag.startsWith("en")) return "en";
  }
  return "en";
}

let LOCALE = browserLocale();

function t(key, vars) {
  let text = (TEXTS[LOCALE] && TEXTS[LOCALE][key]) || TEXTS.en[key] || key;
  for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
  return text;
}

function emotionLabel(name) {
  return (EMOTION_LABELS[LOCALE] || EMOTION_LABELS.en)[name] || name;
}

function applyI18n(root) {
  document.documentElement.lang = LOCALE;
  for (const el of (root || document).querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of (root || document).querySelectorAll("[data-i18n-emotion]")) el.textContent = emotionLabel(el.dataset.i18nEmotion);
}

function setupLanguageToggle() {
  const button = document.getElementById("lang-toggle");
  if (!button) return;
  button.addEventListener("click", () => {
    LOCALE = LOCALE === "ko" ? "en" : "ko";
    try { localStorage.setItem("moodreel.locale", LOCALE); } catch (e) { /* private mode */ }
    applyI18n();
    document.dispatchEvent(new CustomEvent("moodreel:locale"));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  applyI18n();
  setupLanguageToggle();
});
