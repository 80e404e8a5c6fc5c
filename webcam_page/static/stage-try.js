// The try-it page's "stage" option: its words come from /stage/words.js and follow the page's language.
"use strict";

document.addEventListener("DOMContentLoaded", () => StageWords.apply(document.getElementById("stage-option")));
document.addEventListener("moodreel:locale", () => {
  StageWords.setLocale(typeof LOCALE === "string" ? LOCALE : StageWords.locale);
});
