// imgmend: honest progress on a tool page: named stages (uploading with the real percentage sent,
// processing with the seconds elapsed, downloading), the busy server's countdown, the free-image
// meter with its warning before the last one, and what became of the photo on our side.
"use strict";

(() => {
  const app = window.imgmend;
  const STAGES = ["upload", "process", "download"];

  app.mount("progress", () => {
    const { $ } = app;
    const box = $("progress");
    if (!box) return null;
    const text = $("progress-text");
    const bar = $("progress-bar");
    const quota = $("quota");
    const meter = $("quota-meter");
    const warn = $("quota-warn");
    let timer = null;
    let current = null;
    let started = 0;
    let since = 0; // when processing began
    let retryIn = 0;
    let fraction = null;
    let left = null; // free images left, when known

    function draw() {
      box.dataset.stage = current || "";
      for (const li of box.querySelectorAll("#stages li")) {
        const at = STAGES.indexOf(li.dataset.stage);
        li.classList.toggle("done", at < STAGES.indexOf(current));
        li.classList.toggle("current", at === STAGES.indexOf(current));
        if (at === STAGES.indexOf(current)) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
      }
      const pct = fraction === null ? null : Math.min(100, Math.round(fraction * 100));
      if (pct === null) bar.removeAttribute("value"); else bar.value = pct;
      if (retryIn > 0) app.setText(text, "tool.busy", { s: retryIn });
      else if (current === "process") app.setText(text, "tool.processing", { s: Math.floor((Date.now() - since) / 1000) });
      else if (current === "preparing") app.setText(text, "tool.preparing");
      else if (current) app.setText(text, pct === null ? `tool.${current}ing.unknown` : `tool.${current}ing`, { p: pct });
    }

    app.progress = {
      preparing() { current = "preparing"; fraction = null; retryIn = 0; draw(); },
      start() {
        started = Date.now();
        since = started;
        retryIn = 0;
        app.progress.stage("upload", 0);
        clearInterval(timer);
        timer = setInterval(() => { if (current === "process" || retryIn > 0) draw(); }, 1000);
      },
      stage(name, value) {
        if (name === "process" && current !== "process") since = Date.now();
        current = name;
        fraction = name === "process" ? null : value;
        draw();
      },
      busy(seconds) {
        retryIn = seconds;
        if (seconds === 0) { current = "upload"; fraction = 0; }
        draw();
      },
      stop() { clearInterval(timer); timer = null; retryIn = 0; },
      seconds: () => Math.round((Date.now() - started) / 1000),
    };

    // The meter and the warning before the last free image (Pro: no limit, no meter).
    function showQuota(remaining) {
      const pro = !!app.pro.token();
      if (pro) { app.setText(quota, "tool.quota.pro"); left = null; }
      const n = Number.parseInt(remaining, 10);
      if (!pro && Number.isInteger(n) && n >= 0) {
        left = n;
        app.setText(quota, "tool.quota", { n });
      }
      app.config().then((config) => {
        const limit = Number(config.free_daily_limit) || 0;
        meter.hidden = pro || left === null || !limit;
        if (!meter.hidden) { meter.max = limit; meter.low = Math.min(limit, 1.5); meter.high = Math.min(limit, 2.5); meter.optimum = limit; meter.value = left; }
      });
    }
    app.quota = {
      show: showQuota,
      // Before a run: say so when it will spend the last free image of the day.
      warn(on) {
        warn.hidden = !(on && left === 1 && !app.pro.token());
        if (!warn.hidden) app.setText(warn, "tool.quota.last");
      },
    };

    // After a result: the photo is no longer on our servers, said as the engine that ran it makes true.
    app.gone = async () => {
      const line = $("gone");
      const engine = (await app.config()).engine;
      line.hidden = !["replicate", "local"].includes(engine);
      if (!line.hidden) app.setText(line, `tool.gone.${engine}`);
    };
    return () => { clearInterval(timer); delete app.progress; delete app.quota; delete app.gone; };
  });
})();
