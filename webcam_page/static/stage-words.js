// The stage pages' words: STAGE_WORDS and STAGE_EMOTIONS come from /stage/words.js, which the server
// builds from core.present.words (the one table of words). MoodReelLocale (locale.js) picks the language.
"use strict";

const StageWords = (() => {
  let locale = MoodReelLocale.pick();

  function w(key, vars) {
    return MoodReelLocale.word(STAGE_WORDS, locale, key, vars);
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
    MoodReelLocale.remember(locale);
    document.documentElement.lang = locale;
    apply();
    document.dispatchEvent(new CustomEvent("stage:locale"));
  }

  return { get locale() { return locale; }, w, emotion, apply, setLocale };
})();
