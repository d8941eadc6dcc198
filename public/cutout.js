// imgmend background remover, refined in the browser: erase or restore the cut-out with a brush (the
// mask is the result's alpha; restoring takes the pixels of the original photo, no second model run),
// put it on transparent, white, any colour, the original background blurred or an image of the
// user's (never uploaded), and crop to the subject with a margin. Written at full resolution.
"use strict";

(() => {
  const app = window.imgmend;
  const VIEW_SIDE = 1600; // the editor's and the comparison's canvases, at most

  app.mount("cutout", () => {
    const { $ } = app;
    const view = $("cut-canvas");
    if (!view) return null;
    const shown = $("after-canvas");
    const crop = $("crop");
    const margin = $("crop-margin");
    const { on, off } = app.listeners();
    let orig = null; // the photo as uploaded, full size (null: this browser cannot decode it)
    let server = null; // the server's cut-out, full size
    const cut = document.createElement("canvas"); // server's cut-out + the strokes
    const cctx = cut.getContext("2d");
    let strokes = [];
    let undone = [];
    let stroke = null;
    let backdrop = null; // the user's background image
    let bbox = null; // the subject's box in full-size pixels (cached)
    let frame = 0;

    const choice = () => (document.querySelector("input[name=background]:checked") || {}).value || "transparent";
    const scale = () => view.width / cut.width;

    // Apply one brush segment to the full-size cut-out.
    function apply(s, from, to) {
      if (s.mode === "erase") {
        cctx.save();
        cctx.globalCompositeOperation = "destination-out";
        cctx.lineCap = cctx.lineJoin = "round";
        cctx.lineWidth = s.width;
        cctx.beginPath();
        cctx.moveTo(...from);
        cctx.lineTo(...to);
        cctx.stroke();
        cctx.beginPath();
        cctx.arc(to[0], to[1], s.width / 2, 0, Math.PI * 2);
        cctx.fill();
        cctx.restore();
        return;
      }
      if (!orig) return;
      const r = s.width / 2;
      const steps = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1]) / Math.max(1, r / 3)));
      for (let i = 0; i <= steps; i += 1) { // dabs of the original photo along the segment
        const x = from[0] + ((to[0] - from[0]) * i) / steps;
        const y = from[1] + ((to[1] - from[1]) * i) / steps;
        cctx.save();
        cctx.beginPath();
        cctx.arc(x, y, r, 0, Math.PI * 2);
        cctx.clip();
        const sx = Math.max(0, Math.floor(x - r)), sy = Math.max(0, Math.floor(y - r));
        const sw = Math.min(cut.width - sx, Math.ceil(2 * r) + 1), sh = Math.min(cut.height - sy, Math.ceil(2 * r) + 1);
        if (sw > 0 && sh > 0) cctx.drawImage(orig, sx, sy, sw, sh, sx, sy, sw, sh);
        cctx.restore();
      }
    }

    // The cut-out again from the server's, with every stroke still done (undo, redo).
    function replay() {
      cctx.clearRect(0, 0, cut.width, cut.height);
      cctx.drawImage(server, 0, 0);
      for (const s of strokes) s.points.forEach((p, i) => apply(s, s.points[Math.max(0, i - 1)], p));
      bbox = null;
    }

    // Where the subject is (alpha > 8), with the margin; the whole photo without a subject or crop.
    function area() {
      const full = { x: 0, y: 0, w: cut.width, h: cut.height };
      if (!crop.checked) return full;
      if (!bbox) {
        const data = cctx.getImageData(0, 0, cut.width, cut.height).data;
        let x0 = cut.width, y0 = cut.height, x1 = -1, y1 = -1;
        for (let y = 0; y < cut.height; y += 1) {
          for (let x = 0, i = y * cut.width * 4 + 3; x < cut.width; x += 1, i += 4) {
            if (data[i] > 8) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; y1 = y; }
          }
        }
        bbox = x1 < 0 ? full : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
      }
      const m = Math.round((Math.max(bbox.w, bbox.h) * Number(margin.value)) / 100);
      const x = Math.max(0, bbox.x - m), y = Math.max(0, bbox.y - m);
      return { x, y, w: Math.min(cut.width, bbox.x + bbox.w + m) - x, h: Math.min(cut.height, bbox.y + bbox.h + m) - y };
    }

    // The composite of the full-size area `r` onto `target`, scaled by `s`.
    function compose(target, s, r) {
      target.width = Math.max(1, Math.round(r.w * s));
      target.height = Math.max(1, Math.round(r.h * s));
      const c = target.getContext("2d");
      const kind = choice();
      const place = (img) => c.drawImage(img, -r.x * s, -r.y * s, cut.width * s, cut.height * s);
      if (kind === "#ffffff" || kind === "colour") {
        c.fillStyle = kind === "colour" ? $("bg-colour").value : "#ffffff";
        c.fillRect(0, 0, target.width, target.height);
      } else if (kind === "blur" && orig) {
        place(orig); // under the blur, so its edges do not fade to transparent
        c.filter = `blur(${Math.max(2, Math.round(Math.max(cut.width, cut.height) * 0.02 * s))}px)`;
        place(orig);
        c.filter = "none";
      } else if (kind === "image" && backdrop) { // cover: fill the output, centred
        const k = Math.max(target.width / backdrop.width, target.height / backdrop.height);
        c.drawImage(backdrop, (target.width - backdrop.width * k) / 2, (target.height - backdrop.height * k) / 2, backdrop.width * k, backdrop.height * k);
      }
      place(cut);
      return target;
    }

    function draw(all) {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        if (!server) return;
        compose(view, scale(), { x: 0, y: 0, w: cut.width, h: cut.height });
        if (all) {
          compose(shown, scale(), area());
          if (app.compare) app.compare.refresh();
        }
      });
    }

    function changed() {
      $("cut-undo").disabled = strokes.length === 0;
      $("cut-redo").disabled = undone.length === 0;
      view.classList.toggle("checker", choice() === "transparent");
      draw(true);
      if (app.save) app.save.changed();
    }

    app.editor = {
      photo() {},
      // A single photo gets the transparent cut-out (the background is put in here); a Pro batch
      // asks the server for white or a colour, since it is not edited here.
      async form(form, single) {
        const kind = choice();
        if (!single && (kind === "#ffffff" || kind === "colour")) form.append("background", kind === "colour" ? $("bg-colour").value : kind);
      },
      async result(result) {
        orig = result.input.bitmap || null; // decoded as stored (photo.js), like the server's result
        server = await app.decode(result.blob);
        cut.width = server.width;
        cut.height = server.height;
        const k = Math.min(1, VIEW_SIDE / Math.max(cut.width, cut.height));
        view.width = Math.max(1, Math.round(cut.width * k));
        view.height = Math.max(1, Math.round(cut.height * k));
        strokes = [];
        undone = [];
        replay();
        document.querySelector("input[name=cut-brush][value=restore]").disabled = !orig;
        shown.hidden = false;
        $("after").hidden = true;
        changed();
      },
      edited: () => !!server && (choice() !== "transparent" || strokes.length > 0 || crop.checked),
      alpha: () => choice() === "transparent" || (choice() === "image" && !backdrop) || (choice() === "blur" && !orig),
      async render() { return compose(document.createElement("canvas"), 1, area()); },
      reset() { server = orig = null; strokes = []; undone = []; shown.hidden = true; $("after").hidden = false; },
    };

    const painter = app.painter(view, {
      size: $("cut-size"),
      mode: () => "stroke",
      enabled: () => !!server,
      begin() { stroke = null; },
      stroke(from, to, width) {
        const k = 1 / scale();
        const a = [from[0] * k, from[1] * k], b = [to[0] * k, to[1] * k];
        if (!stroke) {
          stroke = { mode: document.querySelector("input[name=cut-brush]:checked").value, width: width * k, points: [a] };
          strokes.push(stroke);
          undone = [];
        }
        stroke.points.push(b);
        apply(stroke, a, b);
        bbox = null;
        draw(false);
      },
      preview() {},
      box() {},
      end() { if (stroke) { stroke = null; changed(); } },
    });
    app.showSize($("cut-size"), $("cut-size-value"));
    const showMargin = () => { $("crop-margin-value").textContent = `${margin.value}%`; };
    showMargin();

    on($("cut-undo"), "click", () => { if (strokes.length) { undone.push(strokes.pop()); replay(); changed(); } });
    on($("cut-redo"), "click", () => { if (undone.length) { strokes.push(undone.pop()); replay(); changed(); } });
    on(crop, "change", changed);
    on(margin, "input", () => { showMargin(); if (crop.checked) changed(); });
    on($("options"), "change", (event) => {
      if (event.target.id === "bg-file") return;
      if (choice() === "image" && !backdrop) { $("bg-file").click(); return; }
      changed();
    });
    on($("bg-colour"), "input", () => { document.querySelector("input[name=background][value=colour]").checked = true; changed(); });
    on($("bg-choose"), "click", () => $("bg-file").click());
    on($("bg-file"), "change", async () => {
      const file = $("bg-file").files[0];
      if (!file) return;
      try {
        backdrop = await app.decode(file);
        document.querySelector("input[name=background][value=image]").checked = true;
        app.setText($("bg-status"), "remove_bg.image.ok", { name: file.name });
      } catch (e) {
        app.setText($("bg-status"), "err.invalid_image");
      }
      changed();
    });
    return () => { off(); painter.detach(); cancelAnimationFrame(frame); delete app.editor; };
  });
})();
