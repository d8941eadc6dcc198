// imgmend: go to another tool with a photo in hand, without storing it anywhere. The photo stays in
// this page's memory: the other tool's page is fetched (same origin), its <main> put in place of this
// one, its scripts loaded once, every script wired to the new <main> (app.mount), the address set with
// history.pushState, and the photo handed to the tool. Going back reloads that address as a page.
"use strict";

(() => {
  const app = window.imgmend;
  let swapped = false;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.async = false; // in document order, like the deferred ones
      script.addEventListener("load", resolve);
      script.addEventListener("error", reject);
      document.head.append(script);
    });
  }

  // The page at `path` with `file` (a Blob, a File or null) given to its tool.
  app.switchTo = async (path, file) => {
    let doc;
    try {
      const reply = await fetch(path);
      if (!reply.ok) throw new Error(String(reply.status));
      doc = new DOMParser().parseFromString(await reply.text(), "text/html");
    } catch (e) {
      location.assign(path); // no photo to hand over then, but the user gets where they were going
      return;
    }
    const fresh = doc.getElementById("main");
    if (!fresh) { location.assign(path); return; }
    app.unmountAll();
    app.$("main").replaceWith(document.adoptNode(fresh));
    const title = doc.querySelector("title");
    document.querySelector("title").dataset.i18n = title.dataset.i18n;
    const description = doc.querySelector("meta[name=description]");
    document.querySelector("meta[name=description]").dataset.i18nAttr = description.dataset.i18nAttr;
    for (const link of document.querySelectorAll("header.site nav a")) {
      if (link.getAttribute("href") === path) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    history.pushState({ imgmend: true }, "", path);
    swapped = true;
    window.scrollTo(0, 0);
    app.apply();
    app.remountAll();
    const have = new Set([...document.querySelectorAll("script[src]")].map((s) => s.getAttribute("src")));
    const wanted = [...doc.querySelectorAll("script[src]")].map((s) => s.getAttribute("src")).filter((src) => !have.has(src));
    await Promise.all(wanted.map(loadScript)); // each mounts itself on the new <main> as it runs
    app.apply();
    if (app.beacon) app.beacon(path);
    if (file && app.toolKit) app.toolKit.take(file);
    else app.$("main").focus();
  };

  window.addEventListener("popstate", () => { if (swapped) location.reload(); });
})();
