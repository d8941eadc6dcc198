// imgmend tool pages: pick/drop/paste a photo, fit it to the limits in the browser, send it, compare.
"use strict";

(() => {
  const app = window.imgmend;
  const $ = (id) => document.getElementById(id);
  const main = $("main");
  const tool = main.dataset.tool; // the tool's id and download suffix come from lib/catalog.py via the page
  const suffix = main.dataset.suffix;
  const EXT = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" };
  const els = {};
  for (const id of ["file", "choose", "pick", "selected", "options", "go", "progress", "progress-text", "cancel",
    "error", "error-text", "error-next", "result", "compare", "before", "after", "download", "again", "quota",
    "batch"]) {
    els[id] = $(id);
  }
  let photo = null; // {blob, name, width, height}
  let controller = null;
  let timer = null;

  const { remember, forget } = app.blobUrls();

  function show(state) {
    els.pick.hidden = state !== "idle";
    if (els.batch) els.batch.hidden = state !== "batch";
    if (els.options) els.options.hidden = state !== "ready";
    els.go.hidden = state !== "ready";
    els.selected.hidden = state !== "ready";
    els.progress.hidden = state !== "busy";
    els.result.hidden = state !== "done";
    if (state !== "error") els.error.hidden = true;
  }

  function showError(code) {
    app.setText(els["error-text"], app.errorKey(code));
    const [text, href, linkKey] = app.nextStep(code);
    const next = els["error-next"];
    next.textContent = "";
    const span = document.createElement("span");
    app.setText(span, text);
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

  function showQuota(remaining) {
    if (app.pro.token()) { app.setText(els.quota, "tool.quota.pro"); return; }
    const left = Number.parseInt(remaining, 10);
    if (Number.isInteger(left) && left >= 0) app.setText(els.quota, "tool.quota", { n: left });
  }

  // The format from the first bytes, never the name: JPEG, PNG, WebP or GIF (first frame).
  async function sniff(file) {
    const b = new Uint8Array(await file.slice(0, 12).arrayBuffer());
    const ascii = (from, to) => String.fromCharCode(...b.slice(from, to));
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
    if (ascii(1, 4) === "PNG") return "image/png";
    if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
    if (ascii(0, 4) === "GIF8") return "image/gif";
    return null;
  }

  const encode = (canvas, type, quality) => new Promise((resolve) => canvas.toBlob(resolve, type, quality));

  // Downscale in the browser when over max_bytes or max_pixels, so a 12 MP phone photo just works.
  async function fit(file, type, limits) {
    const bitmap = await createImageBitmap(file); // EXIF orientation applied
    let { width, height } = bitmap;
    const maxPixels = limits.max_pixels || 40000000;
    const maxBytes = limits.max_bytes || 4194304;
    if (file.size <= maxBytes && width * height <= maxPixels && type !== "image/gif") {
      return { blob: file, width, height, bitmap, resized: false };
    }
    let scale = Math.min(1, Math.sqrt(maxPixels / (width * height)));
    const outType = type === "image/png" || type === "image/gif" ? "image/png" : "image/jpeg";
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.floor(width * scale));
      canvas.height = Math.max(1, Math.floor(height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const blob = await encode(canvas, attempt > 2 ? "image/jpeg" : outType, 0.92);
      if (blob && blob.size <= maxBytes) {
        return { blob, width: canvas.width, height: canvas.height, bitmap: canvas, resized: scale < 1 || blob !== file };
      }
      scale *= 0.8;
    }
    throw new app.ApiError("payload_too_large", 413);
  }

  // Sniff, fit to the limits, name: what one upload needs. Throws ApiError.
  async function prepare(file) {
    const type = await sniff(file);
    if (!type) throw new app.ApiError("unsupported_format", 415);
    const config = await app.config();
    let fitted;
    try { fitted = await fit(file, type, config.limits || {}); } catch (e) {
      throw e instanceof app.ApiError ? e : new app.ApiError("invalid_image", 400);
    }
    const ext = EXT[fitted.blob.type] || EXT[type] || "png";
    return { ...fitted, name: (file.name || "photo").replace(/\.[^.]*$/, "") || "photo", ext };
  }

  // The request body for one photo, with this page's options (the mask only for a single photo).
  async function formFor(prepared, withMask) {
    const form = new FormData();
    form.append("image", prepared.blob, `${prepared.name}.${prepared.ext}`);
    if (tool === "remove_bg") {
      const choice = document.querySelector("input[name=background]:checked").value;
      form.append("background", choice === "colour" ? $("bg-colour").value : choice);
    }
    if (withMask && tool === "remove_watermark" && app.mask && app.mask.hasMask()) {
      form.append("mask", await app.mask.toBlob(), "mask.png");
    }
    return form;
  }

  const resultName = (prepared, type) => `${prepared.name}-${suffix}.${EXT[type] || "png"}`;

  async function choose(files) {
    if (!files || !files.length || controller) return;
    if (files.length > 1 && app.pro.token() && app.batch) {
      show("batch");
      app.batch.start([...files]);
      return;
    }
    const file = files[0];
    forget();
    show("busy");
    app.setText(els["progress-text"], "tool.preparing");
    els.cancel.hidden = true;
    try {
      const fitted = await prepare(file);
      photo = { blob: fitted.blob, name: fitted.name, ext: fitted.ext };
      if (fitted.resized) app.setText(els.selected, "tool.resized", { w: fitted.width, h: fitted.height });
      else app.setText(els.selected, "tool.selected", { name: file.name || "photo" });
      show("ready");
      if (app.mask) app.mask.setPhoto(fitted.bitmap, photo.blob);
      els.go.focus();
    } catch (e) {
      show("error");
      showError(e.code || "invalid_image");
    } finally {
      els.cancel.hidden = false;
    }
  }

  let retryIn = 0; // seconds until a busy server is asked again (0: working)

  function tick(started) {
    if (retryIn > 0) app.setText(els["progress-text"], "tool.busy", { s: retryIn });
    else app.setText(els["progress-text"], "tool.working", { s: Math.floor((Date.now() - started) / 1000) });
  }

  async function run() {
    if (!photo || controller) return;
    const form = await formFor(photo, true);
    controller = new AbortController();
    const started = Date.now();
    show("busy");
    tick(started);
    timer = setInterval(() => tick(started), 1000);
    els.cancel.focus();
    try {
      const reply = await app.postImage(`/api/${tool}`, form, controller.signal, (s) => { retryIn = s; tick(started); });
      const type = (reply.type || "").split(";")[0].trim();
      els.before.src = remember(photo.blob);
      els.after.src = remember(reply.blob);
      els.download.href = els.after.src;
      els.download.download = resultName(photo, type);
      els.compare.classList.toggle("checker", tool === "remove_bg");
      app.compare.reset();
      showQuota(reply.remaining);
      show("done");
      els.download.focus();
    } catch (e) {
      if (e && e.name === "AbortError") {
        show("ready");
        app.setText(els.selected, "tool.cancelled");
      } else if (e.code === "no_watermark_found" && app.mask) {
        // Nothing detected: keep the photo in the editor, say so, and hand the user the brush.
        show("ready");
        showError(e.code);
        els.pick.hidden = true;
        app.mask.openBrush();
      } else {
        show("error");
        showError(e.code || "unknown");
        if (e.code === "quota_exceeded") showQuota(0);
      }
    } finally {
      clearInterval(timer);
      retryIn = 0;
      controller = null;
    }
  }

  function reset() {
    forget();
    photo = null;
    els.file.value = "";
    if (app.mask) app.mask.reset();
    show("idle");
    els.choose.focus();
  }

  els.choose.addEventListener("click", () => els.file.click());
  els.file.addEventListener("change", () => choose(els.file.files));
  els.go.addEventListener("click", run);
  els.cancel.addEventListener("click", () => controller && controller.abort());
  els.again.addEventListener("click", reset);
  main.addEventListener("dragover", (event) => { event.preventDefault(); els.pick.classList.add("over"); });
  main.addEventListener("dragleave", () => els.pick.classList.remove("over"));
  main.addEventListener("drop", (event) => {
    event.preventDefault();
    els.pick.classList.remove("over");
    if (event.dataTransfer.files.length) choose(event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    const item = [...event.clipboardData.items].find((i) => i.kind === "file");
    if (item) choose([item.getAsFile()]);
  });

  // Pro users may pick several photos at once (a batch); free users one at a time.
  const syncPro = () => { els.file.multiple = !!app.pro.token(); };
  document.addEventListener("imgmend:pro", () => {
    syncPro();
    if (!app.pro.token()) app.freeRemaining().then(showQuota); // Pro ended: the free count again
  });
  syncPro();

  app.toolKit = { path: `/api/${tool}`, prepare, formFor, resultName, showQuota, reset };
  app.ready.then(async () => showQuota((await app.config()).free_remaining));
  show("idle");
})();
