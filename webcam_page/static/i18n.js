// English and Korean texts; the page follows the browser's preferred language.
"use strict";

const TEXTS = {
  en: {
    "app.tagline": "Your mood, in colours and movies",
    "try.title": "See how you feel, then find a movie for it",
    "try.lead": "MoodReel watches your expression for about 16 seconds, reads the emotions in it, turns them into colours, and picks movies whose posters match.",
    "try.step1": "A calm 8-second baseline: just look at the screen.",
    "try.step2": "An 8-second mood clip of colours and prompts while we keep watching.",
    "try.step3": "Your emotions, their colours and your top movie picks.",
    "try.feeling": "How do you feel right now? (optional, used if the camera cannot see you)",
    "try.feeling.none": "I'd rather not say",
    "try.start": "Start a session",
    "privacy.title": "Privacy",
    "privacy.body": "Camera frames go straight to the analyser, stay in memory only, and are deleted after analysis. Nothing is recorded or saved; only the resulting emotion numbers are kept.",
    "intro.title": "Ready when you are",
    "intro.lead": "Two short phases, then your result:",
    "intro.start": "Allow camera and start",
    "intro.nocamera": "No camera? Tell us how you feel",
    "camera.asking": "Asking for the camera…",
    "camera.denied": "Camera access was blocked. You can allow it in the browser's address bar, or tell us how you feel instead.",
    "camera.missing": "We could not find a camera on this device. Tell us how you feel instead.",
    "camera.failed": "The camera could not start ({detail}). Tell us how you feel instead.",
    "camera.insecure": "This browser only allows the camera on secure (https) pages. Tell us how you feel instead.",
    "connecting": "Connecting…",
    "phase.baseline": "Phase 1 of 2 · Baseline",
    "phase.baseline.hint": "Relax and look at the screen.",
    "phase.stimulus": "Phase 2 of 2 · Mood clip",
    "phase.stimulus.hint": "Watch the clip; react however you like.",
    "face.found": "Face found",
    "face.missing": "No face: move into the light and face the camera",
    "face.waiting": "Looking for your face…",
    "seconds.left": "{n} s left",
    "faces.count": "{faces} of {frames} frames with a face",
    "analysing": "Reading your emotions and picking movies…",
    "declare.title": "Tell us how you feel",
    "declare.lead": "Pick the feeling closest to yours; we will still find colours and movies for it.",
    "retry.title": "We could not see you well enough",
    "retry.body": "Only {base} baseline and {stim} mood-clip frames showed your face (we need {need} each).",
    "retry.again": "Try again",
    "result.title": "Your mood",
    "result.emotions": "Emotions",
    "result.colours": "Your colours",
    "result.picks": "Top picks",
    "result.nopicks": "No movies matched yet: the catalogue is empty.",
    "result.sent": "Also sent to your {platform} chat.",
    "result.pending": "We will post this to your {platform} chat as soon as the bot is back.",
    "result.deleted": "Your camera frames have been deleted.",
    "result.again": "Start another session",
    "result.match": "{n}% match",
    "problem.title": "This session cannot continue",
    "problem.used": "This link was already used. Each link works once, in one browser; ask the bot for a new one.",
    "problem.expired": "This link has expired. Ask the bot for a new one.",
    "problem.replaced": "A newer link replaced this one. Use the latest link you got.",
    "problem.failed": "This session has ended. Ask the bot for a new link.",
    "problem.invalid": "This link is not valid. Ask the bot for a new one.",
    "problem.missing": "This session does not exist. Ask the bot for a new link.",
    "problem.time_cap": "The session took too long and was closed. Ask the bot for a new link.",
    "problem.lost": "The connection was lost. Reload the page to continue.",
    "problem.unavailable": "MoodReel is having trouble. Please try again in a minute.",
    "problem.reload": "Reload",
    "problem.generic": "Something went wrong: {detail}",
    "stim.1": "Think of someone who always makes you laugh.",
    "stim.2": "Surprise! Confetti, just for you.",
    "stim.3": "A puppy chasing its own tail, round and round…",
    "stim.4": "Now picture your favourite place on a sunny day.",
    "lang": "한국어",
  },
  ko: {
    "app.tagline": "당신의 기분을 색과 영화로",
    "try.title": "지금 기분을 살펴보고, 어울리는 영화를 찾아보세요",
    "try.lead": "MoodReel은 약 16초 동안 표정을 보고 감정을 읽어 색으로 바꾼 뒤, 포스터 색이 어울리는 영화를 골라 드려요.",
    "try.step1": "8초 동안 편안하게 화면을 바라보는 기준 단계.",
    "try.step2": "색과 문구로 된 8초짜리 무드 클립을 보는 동안 계속 표정을 봐요.",
    "try.step3": "당신의 감정, 그 색, 그리고 추천 영화.",
    "try.feeling": "지금 기분은 어떤가요? (선택, 카메라가 얼굴을 못 볼 때 사용해요)",
    "try.feeling.none": "말하지 않을래요",
    "try.start": "세션 시작",
    "privacy.title": "개인정보",
    "privacy.body": "카메라 프레임은 분석기로 바로 가서 메모리에만 머물고, 분석이 끝나면 삭제돼요. 아무것도 녹화하거나 저장하지 않으며, 감정 수치만 남아요.",
    "intro.title": "준비되면 시작하세요",
    "intro.lead": "짧은 두 단계 후에 결과가 나와요:",
    "intro.start": "카메라 허용하고 시작",
    "intro.nocamera": "카메라가 없나요? 기분을 알려 주세요",
    "camera.asking": "카메라 권한을 요청하는 중…",
    "camera.denied": "카메라 접근이 차단되었어요. 주소창에서 허용하거나, 대신 기분을 알려 주세요.",
    "camera.missing": "이 기기에서 카메라를 찾지 못했어요. 대신 기분을 알려 주세요.",
    "camera.failed": "카메라를 켤 수 없어요 ({detail}). 대신 기분을 알려 주세요.",
    "camera.insecure": "이 브라우저는 보안(https) 페이지에서만 카메라를 허용해요. 대신 기분을 알려 주세요.",
    "connecting": "연결하는 중…",
    "phase.baseline": "1/2 단계 · 기준",
    "phase.baseline.hint": "편안하게 화면을 바라보세요.",
    "phase.stimulus": "2/2 단계 · 무드 클립",
    "phase.stimulus.hint": "클립을 보며 자유롭게 반응하세요.",
    "face.found": "얼굴 인식됨",
    "face.missing": "얼굴이 안 보여요: 밝은 곳에서 카메라를 바라봐 주세요",
    "face.waiting": "얼굴을 찾는 중…",
    "seconds.left": "{n}초 남음",
    "faces.count": "{frames}개 중 {faces}개 프레임에서 얼굴 인식",
    "analysing": "감정을 읽고 영화를 고르는 중…",
    "declare.title": "기분을 알려 주세요",
    "declare.lead": "가장 가까운 기분을 고르면 그에 맞는 색과 영화를 찾아 드려요.",
    "retry.title": "얼굴이 충분히 보이지 않았어요",
    "retry.body": "기준 단계 {base}개, 무드 클립 {stim}개 프레임에서만 얼굴이 보였어요 (각각 {need}개 필요).",
    "retry.again": "다시 하기",
    "result.title": "당신의 기분",
    "result.emotions": "감정",
    "result.colours": "당신의 색",
    "result.picks": "추천 영화",
    "result.nopicks": "아직 추천할 영화가 없어요: 카탈로그가 비어 있어요.",
    "result.sent": "{platform} 채팅으로도 보냈어요.",
    "result.pending": "봇이 다시 연결되면 {platform} 채팅으로 보내 드릴게요.",
    "result.deleted": "카메라 프레임은 삭제되었어요.",
    "result.again": "새 세션 시작",
    "result.match": "{n}% 일치",
    "problem.title": "세션을 계속할 수 없어요",
    "problem.used": "이미 사용된 링크예요. 링크는 한 브라우저에서 한 번만 열 수 있어요. 봇에게 새 링크를 요청해 주세요.",
    "problem.expired": "만료된 링크예요. 봇에게 새 링크를 요청해 주세요.",
    "problem.replaced": "더 새로운 링크로 대체되었어요. 가장 최근 링크를 사용해 주세요.",
    "problem.failed": "세션이 종료되었어요. 봇에게 새 링크를 요청해 주세요.",
    "problem.invalid": "올바르지 않은 링크예요. 봇에게 새 링크를 요청해 주세요.",
    "problem.missing": "존재하지 않는 세션이에요. 봇에게 새 링크를 요청해 주세요.",
    "problem.time_cap": "세션 시간이 너무 길어져 종료되었어요. 봇에게 새 링크를 요청해 주세요.",
    "problem.lost": "연결이 끊어졌어요. 페이지를 새로고침해 계속하세요.",
    "problem.unavailable": "MoodReel에 문제가 생겼어요. 잠시 후 다시 시도해 주세요.",
    "problem.reload": "새로고침",
    "problem.generic": "문제가 생겼어요: {detail}",
    "stim.1": "늘 나를 웃게 하는 사람을 떠올려 보세요.",
    "stim.2": "깜짝! 당신만을 위한 색종이 파티.",
    "stim.3": "자기 꼬리를 쫓아 빙글빙글 도는 강아지…",
    "stim.4": "이제 햇살 좋은 날, 가장 좋아하는 장소를 떠올려 보세요.",
    "lang": "English",
  },
};

// EMOTION_LABELS comes from /words.js (core.present.words).
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
