// The page's language: it follows the browser's preferred one, or the toggle.
"use strict";

// TEXTS (the page's words) and EMOTION_LABELS come from /words.js, built from core.present.words;
// MoodReelLocale (locale.js) picks the language.

const EMOTION_ORDER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const PLATFORM_NAMES = { discord: "Discord", mattermost: "Mattermost", web: "MoodReel" };

let LOCALE = MoodReelLocale.pick();

function t(key, vars) {
  return MoodReelLocale.word(TEXTS, LOCALE, key, vars);
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
    MoodReelLocale.remember(LOCALE);
    applyI18n();
    document.dispatchEvent(new CustomEvent("moodreel:locale"));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  applyI18n();
  setupLanguageToggle();
});
