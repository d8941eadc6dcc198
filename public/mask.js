// imgmend watermark editor: detect a mask, paint, erase or box it over the photo, undo and redo;
// hold a button to see the original; white = remove. Another pass starts on the latest result.
"use strict";

(() => {
  const app = window.imgmend;
  const MAX_SIDE = 2048;
  const HISTORY = 20;

  app.mount("mask", () => {
    const { $ } = app;
    const view = $("wm-canvas");
    if (!view) return null;
    const ctx = view.getContext("2d");
    const mask = document.createElement("canvas"); // the photo's size (capped), white strokes = remove
    const mctx = mask.getContext("2d");
    const tint = document.createElement("canvas"); // the mask in translucent red, for display
    const { on, off } = app.listeners();
    let photo = null; // what the next pass works on
    let original = null; // the photo as first given, for hold-to-compare
    let blob = null;
    let history = [];
    let future = [];
    let marked = false;
    let holding = false;
    let box = null; // the box being dragged, in mask pixels

    const mode = () => (document.querySelector("input[name=brush]:checked") || {}).value;
    function status(key) { app.setText($("mask-status"), key); }

    function render() {
      if (!photo) return;
      if (holding) { ctx.drawImage(original || photo, 0, 0, view.width, view.height); return; }
      ctx.drawImage(photo, 0, 0, view.width, view.height);
      const tctx = tint.getContext("2d");
      tctx.globalCompositeOperation = "copy";
      tctx.drawImage(mask, 0, 0);
      tctx.globalCompositeOperation = "source-in";
      tctx.fillStyle = "rgba(230, 20, 40, 0.55)";
      tctx.fillRect(0, 0, tint.width, tint.height);
      ctx.drawImage(tint, 0, 0, view.width, view.height);
      if (box) {
        ctx.fillStyle = "rgba(230, 20, 40, 0.35)";
        ctx.fillRect(box.x, box.y, box.w, box.h);
        ctx.lineWidth = Math.max(1, view.width / 400);
        ctx.strokeStyle = "#fff";
        ctx.setLineDash([6, 4]);
        ctx.strokeRect(box.x, box.y, box.w, box.h);
        ctx.setLineDash([]);
      }
    }

    const state = () => ({ pixels: mctx.getImageData(0, 0, mask.width, mask.height), marked });
    function buttons() {
      $("undo").disabled = history.length === 0;
      $("redo").disabled = future.length === 0;
    }
    function snapshot() {
      history.push(state());
      if (history.length > HISTORY) history.shift();
      future = [];
      buttons();
    }
    function step(from, to) {
      const last = from.pop();
      if (!last) return;
      to.push(state());
      mctx.putImageData(last.pixels, 0, 0);
      marked = last.marked;
      render();
      buttons();
    }
    const undo = () => step(history, future);
    const redo = () => step(future, history);

    function setPhoto(source, file, first) {
      photo = source;
      original = first || null;
      blob = file;
      history = [];
      future = [];
      marked = false;
      buttons();
      $("mask-status").textContent = "";
      delete $("mask-status").dataset.i18n;
      view.hidden = !source;
      for (const id of ["detect", "clear-mask", "hold"]) $(id).disabled = !source;
      if (!source) { status("remove_watermark.nopreview"); return; }
      const scale = Math.min(1, MAX_SIDE / Math.max(source.width, source.height));
      mask.width = tint.width = view.width = Math.max(1, Math.round(source.width * scale));
      mask.height = tint.height = view.height = Math.max(1, Math.round(source.height * scale));
      mctx.clearRect(0, 0, mask.width, mask.height); // transparent = keep
      render();
    }

    // The mask as a PNG: white where to remove, black elsewhere, at the mask canvas size.
    function toBlob() {
      const out = document.createElement("canvas");
      out.width = mask.width;
      out.height = mask.height;
      const octx = out.getContext("2d");
      octx.fillStyle = "#000";
      octx.fillRect(0, 0, out.width, out.height);
      octx.drawImage(mask, 0, 0);
      return new Promise((resolve) => out.toBlob(resolve, "image/png"));
    }

    // Open the brush on the loaded photo (nothing was detected): paint mode, editor in view, focus.
    function openBrush() {
      const paint = document.querySelector("input[name=brush][value=paint]");
      paint.checked = true;
      status("remove_watermark.paint.now");
      $("options").scrollIntoView({ block: "nearest" });
      paint.focus();
    }

    app.mask = { hasMask: () => marked, toBlob, openBrush, history: () => [history.length, future.length] };
    app.editor = {
      photo: (p) => setPhoto(p.bitmap, p.blob, p.first && p.first.bitmap),
      async form(form, single) { if (single && marked) form.append("mask", await toBlob(), "mask.png"); },
      noneFound: openBrush,
      edited: () => false, // the result is the server's, as it came
      reset() { photo = null; original = null; blob = null; history = []; future = []; marked = false; },
    };

    async function detect() {
      if (!blob) return;
      const button = $("detect");
      button.disabled = true;
      status("remove_watermark.detecting");
      try {
        const form = new FormData();
        form.append("image", blob, "photo");
        const reply = await app.postImage("/api/watermark_mask", form);
        const bitmap = await createImageBitmap(reply.blob);
        // The reply is white on black; keep only the white as opaque white strokes.
        const tmp = document.createElement("canvas");
        tmp.width = mask.width;
        tmp.height = mask.height;
        const tctx = tmp.getContext("2d");
        tctx.drawImage(bitmap, 0, 0, tmp.width, tmp.height);
        const pixels = tctx.getImageData(0, 0, tmp.width, tmp.height);
        for (let i = 0; i < pixels.data.length; i += 4) {
          const lit = pixels.data[i] > 127;
          pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = 255;
          pixels.data[i + 3] = lit ? 255 : 0;
        }
        snapshot();
        mctx.putImageData(pixels, 0, 0);
        marked = true;
        render();
        status("remove_watermark.detected");
      } catch (e) {
        app.setText($("mask-status"), app.errorKey(e.code || "unknown"));
      } finally {
        button.disabled = false;
      }
    }

    const painter = app.painter(view, {
      size: $("brush-size"),
      mode,
      enabled: () => !!photo,
      begin: snapshot,
      stroke(from, to, width) {
        const erase = mode() === "erase";
        mctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
        mctx.strokeStyle = mctx.fillStyle = "#fff";
        mctx.lineCap = mctx.lineJoin = "round";
        mctx.lineWidth = width;
        mctx.beginPath();
        mctx.arc(to[0], to[1], width / 2, 0, Math.PI * 2); // a dab: zero-length lines draw nothing
        mctx.fill();
        mctx.beginPath();
        mctx.moveTo(...from);
        mctx.lineTo(...to);
        mctx.stroke();
        mctx.globalCompositeOperation = "source-over";
        if (!erase) marked = true;
        render();
      },
      preview(r) { box = r; render(); },
      box(r) {
        mctx.fillStyle = "#fff";
        mctx.fillRect(r.x, r.y, r.w, r.h);
        marked = true;
        render();
      },
      end() {},
    });
    app.showSize($("brush-size"), $("brush-size-value"));

    // Hold to compare: while the button is pressed (pointer, or Space/Enter held), the original.
    const hold = $("hold");
    const press = (down) => { if (holding !== down) { holding = down; hold.setAttribute("aria-pressed", String(down)); render(); } };
    on(hold, "pointerdown", (event) => { hold.setPointerCapture(event.pointerId); press(true); });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture", "blur"]) on(hold, type, () => press(false));
    on(hold, "keydown", (event) => { if (event.key === " " || event.key === "Enter") { event.preventDefault(); press(true); } });
    on(hold, "keyup", (event) => { if (event.key === " " || event.key === "Enter") press(false); });

    on($("detect"), "click", detect);
    on($("undo"), "click", undo);
    on($("redo"), "click", redo);
    on($("clear-mask"), "click", () => {
      snapshot();
      mctx.clearRect(0, 0, mask.width, mask.height);
      marked = false;
      render();
    });
    // Ctrl/Cmd+Z undo, Ctrl/Cmd+Shift+Z or Ctrl+Y redo, while the editor is on screen.
    on(document, "keydown", (event) => {
      if (!(event.ctrlKey || event.metaKey) || !view.offsetParent) return;
      if (event.target.closest && event.target.closest("input[type=text], textarea")) return;
      const key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) undo();
      else if ((key === "z" && event.shiftKey) || key === "y") redo();
      else return;
      event.preventDefault();
    });
    // Another pass on the latest result, in memory: the result becomes the photo, the mask starts empty.
    const pass = $("pass");
    if (pass) on(pass, "click", async () => app.toolKit.again((await app.save.forChain()).blob));

    return () => {
      off();
      painter.detach();
      delete app.mask;
      delete app.editor;
    };
  });
})();
