// imgmend noise remover: how strong, 0-100 %: the result blended with the original photo here in the
// browser (no second run), shown live in the comparison (also at 1:1) and written at full resolution.
"use strict";

(() => {
  const app = window.imgmend;

  app.mount("strength", () => {
    const { $ } = app;
    const input = $("strength");
    if (!input) return null;
    const output = $("strength-value");
    const after = $("after");
    const base = $("after-base");
    const { on, off } = app.listeners();
    let result = null;

    // The comparison shows the blend as the browser composites it: the original under the result at
    // the strength's opacity, the same sum the canvas below makes.
    function paint() {
      const s = Number(input.value) / 100;
      after.style.opacity = s < 1 ? String(s) : "";
      base.hidden = s >= 1;
      output.textContent = `${input.value}%`;
    }

    app.editor = {
      photo() {},
      async form() {},
      result(next) {
        result = next;
        input.value = "100";
        input.disabled = !next.input.bitmap; // a photo this browser cannot decode cannot be blended here
        base.src = $("before").src;
        paint();
      },
      edited: () => !!result && Number(input.value) < 100,
      // Full size: the original, then the result over it at the strength.
      async render() {
        const [photo, clean] = await Promise.all([app.decode(result.input.blob), app.decode(result.blob)]);
        const canvas = document.createElement("canvas");
        canvas.width = clean.width;
        canvas.height = clean.height;
        const ctx = canvas.getContext("2d");
        ctx.drawImage(photo, 0, 0, canvas.width, canvas.height);
        ctx.globalAlpha = Number(input.value) / 100;
        ctx.drawImage(clean, 0, 0);
        photo.close();
        clean.close();
        return canvas;
      },
      reset() { result = null; input.value = "100"; paint(); },
    };

    on(input, "input", () => { paint(); if (app.save) app.save.changed(); });
    paint();
    return () => { off(); after.style.opacity = ""; delete app.editor; };
  });
})();
