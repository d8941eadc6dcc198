// imgmend: string tables (data-i18n keys, English fallback, textContent only) and the language choice.
"use strict";

(() => {
  const KEY = "imgmend.lang";
  const LANGS = { en: "en", zh: "zh-CN" };
  const tables = { en: {}, zh: {} };
  const app = (window.imgmend = window.imgmend || {});

  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }

  function initial() {
    const saved = stored();
    if (saved && LANGS[saved]) return saved;
    const wanted = navigator.languages && navigator.languages.length ? navigator.languages[0] : navigator.language;
    return /^zh\b/i.test(wanted || "") ? "zh" : "en";
  }

  app.lang = initial();

  // t("tool.processing", {s: 3}): the current language, else English, else the key itself.
  app.t = (key, vars) => {
    let text = tables[app.lang][key];
    if (typeof text !== "string") text = tables.en[key];
    if (typeof text !== "string") text = key;
    return text.replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? String(vars[name]) : m));
  };

  // setText(el, key, vars): remembered on the element, so a language switch re-renders it.
  app.setText = (el, key, vars) => {
    el.dataset.i18n = key;
    if (vars) el.dataset.i18nVars = JSON.stringify(vars); else delete el.dataset.i18nVars;
    el.textContent = app.t(key, vars);
  };

  function apply(root) {
    document.documentElement.lang = LANGS[app.lang];
    for (const el of root.querySelectorAll("[data-i18n]")) {
      let vars;
      try { vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined; } catch (e) { vars = undefined; }
      el.textContent = app.t(el.dataset.i18n, vars);
    }
    for (const el of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":");
        if (attr && key) el.setAttribute(attr.trim(), app.t(key.trim()));
      }
    }
    const other = app.lang === "zh" ? "en" : "zh";
    const button = document.getElementById("lang-switch");
    if (button) {
      button.textContent = other === "zh" ? "中文" : "English";
      button.lang = LANGS[other];
    }
    document.dispatchEvent(new CustomEvent("imgmend:lang"));
  }
  app.apply = () => apply(document);

  async function load(lang) {
    if (Object.keys(tables[lang]).length) return;
    try {
      const reply = await fetch(`/i18n/${lang}.json`);
      if (reply.ok) tables[lang] = await reply.json();
    } catch (e) { /* the English text in the page stays */ }
  }

  app.setLang = async (lang) => {
    if (!LANGS[lang]) return;
    await load(lang);
    app.lang = lang;
    try { localStorage.setItem(KEY, lang); } catch (e) { /* private mode: this visit only */ }
    apply(document);
  };

  app.ready = Promise.all([load("en"), app.lang === "en" ? null : load(app.lang)]).then(() => apply(document));

  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("lang-switch");
    if (button) button.addEventListener("click", () => app.setLang(app.lang === "zh" ? "en" : "zh"));
  });
})();
