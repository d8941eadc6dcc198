// imgmend Pro batch: several photos in a queue, one request at a time, each downloadable, or all as a ZIP.
"use strict";

(() => {
  const app = window.imgmend;

  app.mount("batch", () => {
    const { $ } = app;
    const section = $("batch");
    if (!section) return null;
    const list = $("batch-list");
    const go = $("batch-go");
    const zipButton = $("batch-zip");
    const status = $("batch-status");
    let items = [];
    let running = false;

    const { remember, forget } = app.blobUrls();

    function row(item) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = item.file.name || "photo";
      item.state = document.createElement("span");
      item.state.className = "state";
      app.setText(item.state, "batch.waiting");
      item.link = document.createElement("a");
      item.link.className = "button";
      item.link.hidden = true;
      app.setText(item.link, "tool.download");
      li.append(name, " ", item.state, " ", item.link);
      return li;
    }

    // A name not used yet in this batch, so the ZIP never holds two files of the same name.
    function unique(name, taken) {
      let candidate = name;
      for (let n = 2; taken.has(candidate); n += 1) candidate = name.replace(/(\.[^.]*)$/, `-${n}$1`);
      taken.add(candidate);
      return candidate;
    }

    async function runAll() {
      if (running) return;
      running = true;
      go.hidden = true;
      const taken = new Set();
      let done = 0;
      for (const item of items) {
        app.setText(item.state, "batch.working");
        try {
          const prepared = await app.toolKit.prepare(item.file);
          const reply = await app.postImage(app.toolKit.path, await app.toolKit.formFor(prepared, false));
          const type = (reply.type || "").split(";")[0].trim();
          item.result = { blob: reply.blob, name: unique(app.toolKit.resultName(prepared, type), taken) };
          item.link.href = remember(reply.blob);
          item.link.download = item.result.name;
          item.link.setAttribute("aria-label", app.t("batch.download", { name: item.result.name }));
          item.link.hidden = false;
          app.setText(item.state, "batch.done");
          done += 1;
        } catch (e) {
          const code = (e && e.code) || "unknown";
          app.setText(item.state, app.errorKey(code));
          item.state.classList.add("failed");
          if (code === "invalid_token" || code === "quota_exceeded") break; // Pro ended: the rest would fail too
        }
        app.setText(status, "batch.progress", { done, n: items.length });
      }
      zipButton.hidden = done < 1;
      running = false;
    }

    async function downloadAll() {
      const files = items.filter((item) => item.result).map((item) => item.result);
      const link = document.createElement("a");
      link.href = remember(await app.zip(files));
      link.download = "imgmend-photos.zip";
      document.body.append(link);
      link.click();
      link.remove();
    }

    app.batch = {
      start(files) {
        forget();
        items = files.map((file) => ({ file }));
        list.textContent = "";
        for (const item of items) list.append(row(item));
        zipButton.hidden = true;
        go.hidden = false;
        app.setText(status, "batch.ready", { n: items.length });
        go.focus();
      },
    };

    go.addEventListener("click", runAll);
    zipButton.addEventListener("click", downloadAll);
    $("batch-again").addEventListener("click", () => {
      if (running) return;
      forget();
      items = [];
      list.textContent = "";
      app.toolKit.reset();
    });
    return () => { forget(); delete app.batch; };
  });
})();
