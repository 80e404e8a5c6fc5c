// The one language picker for every page: the stored choice, else the browser's preferred language.
"use strict";

const MoodReelLocale = (() => {
  const KEY = "moodreel.locale";

  function pick() {
    let stored = null;
    try { stored = window.localStorage ? localStorage.getItem(KEY) : null; } catch (e) { /* private mode */ }
    if (stored === "en" || stored === "ko") return stored;
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    for (const lang of langs) {
      const tag = String(lang).toLowerCase();
      if (tag.startsWith("ko")) return "ko";
      if (tag.startsWith("en")) return "en";
    }
    return "en";
  }

  function remember(locale) {
    try { localStorage.setItem(KEY, locale); } catch (e) { /* private mode */ }
  }

  // A table's words for one locale, English where the locale lacks the key, "{name}" filled in.
  function word(table, locale, key, vars) {
    let text = (table[locale] && table[locale][key]) || table.en[key] || key;
    for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  return { pick, remember, word };
})();
