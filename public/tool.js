// imgmend tool pages: take a photo (pick, drop anywhere, paste, a sample, or another tool's result),
// send it, show the result; the tool's own editor (strength.js, cutout.js, mask.js) and the
// download (save.js) work on it; a result can go straight on into another tool (switch.js).
"use strict";

(() => {
  const app = window.imgmend;

  app.mount("tool", (main) => {
    if (!main || !main.dataset.tool) return null;
    const { $ } = app;
    const tool = main.dataset.tool; // the tool's id and download suffix come from lib/catalog.py via the page
    const suffix = main.dataset.suffix;
    const els = {};
    for (const id of ["file", "choose", "sample", "pick", "selected", "options", "go", "progress", "cancel", "error",
      "error-text", "error-next", "result", "compare", "before", "after", "download", "again", "batch", "chain", "formats"]) {
      els[id] = $(id);
    }
    const { on, off } = app.listeners();
    const { remember, forget } = app.blobUrls();
    let photo = null; // {blob, type, name, ext, bitmap, width, height, first}
    let controller = null;
    let preparing = false;
    let formatsLabel = ""; // what the server takes, in words (from /api/config)
    const editor = () => app.editor || null;

    function show(state) {
      els.pick.hidden = state !== "idle";
      if (els.batch) els.batch.hidden = state !== "batch";
      if (els.options) els.options.hidden = !(els.options.dataset.states || "ready").split(" ").includes(state);
      els.go.hidden = state !== "ready";
      els.selected.hidden = state !== "ready";
      els.progress.hidden = state !== "busy";
      els.result.hidden = state !== "done";
      if (state !== "error") els.error.hidden = true;
      if (app.quota) app.quota.warn(state === "ready");
    }

    function showError(code) {
      const formats = formatsLabel;
      app.setText(els["error-text"], app.errorKey(code));
      const [text, href, linkKey] = app.nextStep(code);
      const next = els["error-next"];
      next.textContent = "";
      const span = document.createElement("span");
      app.setText(span, text, { formats });
      next.append(span);
      if (href) {
        const link = document.createElement("a");
        link.href = href;
        link.className = "button primary";
        app.setText(link, linkKey);
        next.append(" ", link);
      }
      els.error.hidden = false;
      els.pick.hidden = false;
    }

    // The request body for one photo, with this page's options (`single`: not a Pro batch item).
    async function formFor(prepared, single) {
      const form = new FormData();
      form.append("image", prepared.blob, `${prepared.name}.${prepared.ext}`);
      if (editor() && editor().form) await editor().form(form, single);
      return form;
    }

    const resultName = (prepared, type) => `${prepared.name}-${suffix}.${app.extension(type)}`;

    // A photo to work on; `first` is the photo a watermark pass started from (for hold-to-compare).
    async function choose(files, first) {
      if (!files || !files.length || controller || preparing) return;
      if (files.length > 1 && app.pro.token() && app.batch) {
        show("batch");
        app.batch.start([...files]);
        return;
      }
      const file = files[0];
      forget();
      preparing = true;
      show("busy");
      app.progress.preparing();
      els.cancel.hidden = true;
      try {
        const fitted = await app.prepare(file);
        photo = { ...fitted, first: first || null };
        if (fitted.resized) app.setText(els.selected, "tool.resized", { w: fitted.width, h: fitted.height });
        else if (first) app.setText(els.selected, "remove_watermark.pass.ready");
        else app.setText(els.selected, "tool.selected", { name: file.name || "photo" });
        show("ready");
        if (editor()) editor().photo(photo);
        els.go.focus();
      } catch (e) {
        show("error");
        showError(e.code || "invalid_image");
      } finally {
        els.cancel.hidden = false;
        preparing = false;
      }
    }

    async function run() {
      if (!photo || controller) return;
      els.error.hidden = true; // an earlier message no longer applies
      const form = await formFor(photo, true);
      controller = new AbortController();
      show("busy");
      app.progress.start();
      els.cancel.focus();
      try {
        const hear = { busy: (s) => app.progress.busy(s), stage: (name, fraction) => app.progress.stage(name, fraction) };
        const reply = await app.postImage(`/api/${tool}`, form, controller.signal, hear);
        const first = photo.first || photo;
        const result = { blob: reply.blob, type: (reply.type || "").split(";")[0].trim(), name: `${first.name}-${suffix}`, input: photo, first };
        els.before.src = remember(first.blob);
        els.after.src = remember(reply.blob);
        els.after.hidden = false;
        els.compare.classList.toggle("checker", tool === "remove_bg");
        app.result = result;
        if (editor() && editor().result) await editor().result(result);
        await app.save.set(result);
        app.quota.show(reply.remaining);
        app.gone();
        show("done");
        app.compare.reset();
        els.download.focus();
      } catch (e) {
        if (e && e.name === "AbortError") {
          show("ready");
          app.setText(els.selected, "tool.cancelled");
        } else if (e.code === "no_watermark_found" && editor() && editor().noneFound) {
          // Nothing detected: keep the photo in the editor, say so, and hand the user the brush.
          show("ready");
          showError(e.code);
          els.pick.hidden = true;
          editor().noneFound();
        } else {
          show("error");
          showError(e.code || "unknown");
          if (e.code === "quota_exceeded") app.quota.show(0);
        }
      } finally {
        app.progress.stop();
        controller = null;
      }
    }

    function reset() {
      forget();
      photo = null;
      app.result = null;
      els.file.value = "";
      if (editor() && editor().reset) editor().reset();
      show("idle");
      els.choose.focus();
    }

    async function sample() {
      try {
        const reply = await fetch(els.sample.dataset.src);
        if (!reply.ok) throw new Error("sample");
        choose([new File([await reply.blob()], "sample.jpg", { type: "image/jpeg" })]);
      } catch (e) {
        show("error");
        showError("network");
      }
    }

    on(els.choose, "click", () => els.file.click());
    on(els.file, "change", () => choose(els.file.files));
    if (els.sample) on(els.sample, "click", sample);
    on(els.go, "click", run);
    on(els.cancel, "click", () => controller && controller.abort());
    on(els.again, "click", reset);
    // A photo dropped anywhere on the page, or pasted.
    on(document, "dragover", (event) => { event.preventDefault(); els.pick.classList.add("over"); });
    on(document, "dragleave", (event) => { if (!event.relatedTarget) els.pick.classList.remove("over"); });
    on(document, "drop", (event) => {
      event.preventDefault();
      els.pick.classList.remove("over");
      if (event.dataTransfer.files.length) choose(event.dataTransfer.files);
    });
    on(document, "paste", (event) => {
      const item = [...event.clipboardData.items].find((i) => i.kind === "file");
      if (item) choose([item.getAsFile()]);
    });
    // Straight on into another tool with this result, in memory (no download, no second lossy encode).
    for (const button of els.chain.querySelectorAll("button[data-page]")) {
      button.hidden = button.dataset.tool === tool;
      on(button, "click", async () => {
        const out = await app.save.forChain();
        const name = `${app.result.name}.${app.extension(out.type)}`;
        app.switchTo(button.dataset.page, new File([out.blob], name, { type: out.type }));
      });
    }

    // Pro users may pick several photos at once (a batch); free users one at a time.
    const syncPro = () => { els.file.multiple = !!app.pro.token(); };
    on(document, "imgmend:pro", () => {
      syncPro();
      if (!app.pro.token()) app.freeRemaining().then((n) => app.quota.show(n)); // Pro ended: the free count again
    });
    syncPro();
    // What the server takes, from /api/config: the picker's filter and the hint.
    const formats = async () => {
      els.file.accept = await app.formats.accept();
      formatsLabel = await app.formats.label();
      app.setText(els.formats, "tool.formats", { formats: formatsLabel });
    };
    on(document, "imgmend:lang", formats);

    app.toolKit = {
      path: `/api/${tool}`, prepare: app.prepare, formFor, resultName, reset,
      take: (file) => choose([file]),
      // Another watermark pass on `blob` (the latest result), the first photo kept for comparing.
      again: (blob) => {
        const first = photo.first || photo;
        return choose([new File([blob], `${first.name}.${app.extension(blob.type)}`, { type: blob.type })], first);
      },
    };
    app.ready.then(async () => { formats(); app.quota.show((await app.config()).free_remaining); });
    show("idle");
    return () => {
      off();
      if (controller) controller.abort();
      forget();
      delete app.toolKit;
      app.result = null;
    };
  });
})();
