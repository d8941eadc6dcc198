// imgmend watermark editor: detect a mask, paint or erase it over the photo, undo; white = remove.
"use strict";

(() => {
  const app = window.imgmend;
  const $ = (id) => document.getElementById(id);
  const view = $("wm-canvas");
  const ctx = view.getContext("2d");
  const mask = document.createElement("canvas"); // the photo's size (capped), black/white
  const mctx = mask.getContext("2d");
  const tint = document.createElement("canvas"); // the mask in translucent red, for display
  const MAX_SIDE = 2048;
  let photo = null;
  let blob = null;
  let history = [];
  let drawing = null;
  let marked = false;

  function render() {
    if (!photo) return;
    ctx.drawImage(photo, 0, 0, view.width, view.height);
    const tctx = tint.getContext("2d");
    tctx.globalCompositeOperation = "copy";
    tctx.drawImage(mask, 0, 0);
    tctx.globalCompositeOperation = "source-in";
    tctx.fillStyle = "rgba(230, 20, 40, 0.55)";
    tctx.fillRect(0, 0, tint.width, tint.height);
    ctx.drawImage(tint, 0, 0, view.width, view.height);
  }

  function snapshot() {
    history.push({ pixels: mctx.getImageData(0, 0, mask.width, mask.height), marked });
    if (history.length > 20) history.shift();
    $("undo").disabled = false;
  }

  function status(key) { app.setText($("mask-status"), key); }

  app.mask = {
    setPhoto(source, file) {
      photo = source;
      blob = file;
      const scale = Math.min(1, MAX_SIDE / Math.max(source.width, source.height));
      mask.width = tint.width = view.width = Math.max(1, Math.round(source.width * scale));
      mask.height = tint.height = view.height = Math.max(1, Math.round(source.height * scale));
      mctx.clearRect(0, 0, mask.width, mask.height); // transparent = keep; white strokes = remove
      history = [];
      marked = false;
      $("undo").disabled = true;
      $("mask-status").textContent = "";
      render();
    },
    reset() { photo = null; blob = null; history = []; marked = false; },
    // Open the brush on the loaded photo (nothing was detected): paint mode, editor in view, focus.
    openBrush() {
      const paint = document.querySelector("input[name=brush][value=paint]");
      paint.checked = true;
      status("remove_watermark.paint.now");
      $("options").scrollIntoView({ block: "nearest" });
      paint.focus();
    },
    hasMask: () => marked,
    // The mask as a PNG: white where to remove, black elsewhere, at the mask canvas size.
    toBlob() {
      const out = document.createElement("canvas");
      out.width = mask.width;
      out.height = mask.height;
      const octx = out.getContext("2d");
      octx.fillStyle = "#000";
      octx.fillRect(0, 0, out.width, out.height);
      octx.drawImage(mask, 0, 0);
      return new Promise((resolve) => out.toBlob(resolve, "image/png"));
    },
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
        const on = pixels.data[i] > 127;
        pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = 255;
        pixels.data[i + 3] = on ? 255 : 0;
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

  function point(event) {
    const box = view.getBoundingClientRect();
    return [(event.clientX - box.left) * (mask.width / box.width), (event.clientY - box.top) * (mask.height / box.height)];
  }

  function stroke(from, to) {
    const erase = document.querySelector("input[name=brush]:checked").value === "erase";
    const box = view.getBoundingClientRect();
    mctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
    mctx.strokeStyle = "#fff";
    mctx.lineCap = mctx.lineJoin = "round";
    mctx.lineWidth = Number($("brush-size").value) * (mask.width / Math.max(1, box.width));
    mctx.fillStyle = "#fff";
    mctx.beginPath();
    mctx.arc(to[0], to[1], mctx.lineWidth / 2, 0, Math.PI * 2); // a dab: zero-length lines draw nothing
    mctx.fill();
    mctx.beginPath();
    mctx.moveTo(...from);
    mctx.lineTo(...to);
    mctx.stroke();
    mctx.globalCompositeOperation = "source-over";
    if (!erase) marked = true;
    render();
  }

  view.addEventListener("pointerdown", (event) => {
    if (!photo) return;
    view.setPointerCapture(event.pointerId);
    snapshot();
    drawing = point(event);
    stroke(drawing, drawing);
  });
  view.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const next = point(event);
    stroke(drawing, next);
    drawing = next;
  });
  const stop = () => { drawing = null; };
  view.addEventListener("pointerup", stop);
  view.addEventListener("pointercancel", stop);

  $("detect").addEventListener("click", detect);
  $("undo").addEventListener("click", () => {
    const last = history.pop();
    if (last) { mctx.putImageData(last.pixels, 0, 0); marked = last.marked; render(); }
    $("undo").disabled = history.length === 0;
  });
  $("clear-mask").addEventListener("click", () => {
    snapshot();
    mctx.clearRect(0, 0, mask.width, mask.height);
    marked = false;
    render();
  });
})();
