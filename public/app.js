// imgmend: site-wide glue: the Pro badge, and the mount registry that lets a page's <main> be swapped
// (switch.js) with every script wired again to the new one.
"use strict";

(() => {
  const app = window.imgmend;
  app.$ = (id) => document.getElementById(id); // every page script's element lookup
  const badge = app.$("pro-badge");
  const show = () => { if (badge) badge.hidden = !app.pro.token(); };
  document.addEventListener("imgmend:pro", show);
  show();

  // Listeners that one mount adds and its teardown removes.
  app.listeners = () => {
    const added = [];
    return {
      on(target, type, fn, options) {
        target.addEventListener(type, fn, options);
        added.push(() => target.removeEventListener(type, fn, options));
      },
      off() { added.splice(0).forEach((remove) => remove()); },
    };
  };

  // app.mount(name, (main) => teardown): run now on this page's <main>, again after each swap.
  const mounts = [];
  app.mount = (name, fn) => {
    const entry = { name, fn, teardown: null };
    mounts.push(entry);
    entry.teardown = fn(document.getElementById("main")) || null;
  };
  app.unmountAll = () => {
    for (const entry of mounts) {
      if (entry.teardown) entry.teardown();
      entry.teardown = null;
    }
  };
  app.remountAll = () => {
    const main = document.getElementById("main");
    for (const entry of mounts) entry.teardown = entry.fn(main) || null;
  };
  app.mounted = () => mounts.map((entry) => entry.name);
})();
