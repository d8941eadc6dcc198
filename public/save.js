// imgmend downloads: PNG, JPEG or WebP as the user chooses (transparent results: PNG or WebP), at the
// full resolution, with the input's ICC colour profile in the file. Unchanged results in the server's
// format are the server's bytes as they came; anything else is encoded here once, from the full-size
// pixels, and gets the profile back (icc.js).
"use strict";

(() => {
  const app = window.imgmend;
  const encode = (canvas, type, quality) => new Promise((resolve) => canvas.toBlob(resolve, type, quality));

  // The full-size pixels of an image file on a canvas, in the file's own colour space.
  app.toCanvas = async (blob) => {
    const bitmap = await app.decode(blob);
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    return canvas;
  };

  function hasAlpha(canvas) {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] < 255) return true;
    return false;
  }

  app.mount("save", () => {
    const { $ } = app;
    const select = $("format");
    const link = $("download");
    if (!select || !link) return null;
    const status = $("save-status");
    const { on, off } = app.listeners();
    let result = null;
    let url = null; // the object URL the link holds now
    let fresh = false; // the link's file matches the current choices
    let chosen = false; // the user picked a format (else it follows the result)
    let alpha = false;
    let icc;

    const editor = () => (app.editor && app.editor.edited() ? app.editor : null);

    async function render() {
      const ed = editor();
      return ed ? ed.render() : app.toCanvas(result.blob);
    }

    async function profile() {
      if (icc === undefined) icc = (await app.icc.read(result.blob)) || (await app.icc.read(result.input.blob));
      return icc;
    }

    // The file in `type`: the server's bytes when nothing changed, else one encode of the full-size pixels.
    async function file(type) {
      if (!editor() && type === result.type) return result.blob;
      const canvas = await render();
      const blob = await encode(canvas, type, 0.92);
      return app.icc.write(blob, type, await profile(), { width: canvas.width, height: canvas.height, alpha });
    }

    function preferred() {
      let type = result.type;
      if (alpha && type === "image/jpeg") type = "image/png";
      if (!alpha && type !== result.input.type && ["image/jpeg", "image/webp"].includes(result.input.type)) type = result.input.type;
      return type;
    }

    // Options to match the transparency; the choice follows the result until the user makes one.
    function sync() {
      const jpeg = select.querySelector("option[value='image/jpeg']");
      jpeg.disabled = jpeg.hidden = alpha;
      if (!chosen || (alpha && select.value === "image/jpeg")) select.value = preferred();
      link.download = `${result.name}.${app.extension(select.value)}`;
    }

    function point(blob) {
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      link.href = url;
      fresh = true;
    }

    app.save = {
      // A new result: {blob, type, name, input: {blob, type}}.
      async set(next) {
        result = next;
        chosen = false;
        icc = undefined;
        const ed = app.editor;
        alpha = ed && ed.alpha ? ed.alpha() : result.type !== "image/jpeg" && hasAlpha(await app.toCanvas(result.blob));
        sync();
        if (select.value === result.type && !editor()) point(result.blob); else fresh = false;
      },
      // Something the output depends on changed (an editor's stroke, a background, the strength).
      changed() {
        if (!result) return;
        const ed = app.editor;
        if (ed && ed.alpha) alpha = ed.alpha();
        sync();
        fresh = false;
      },
      // What another tool (or another pass) gets: the server's bytes, or a lossless PNG of the edit.
      async forChain() {
        if (!editor()) return { blob: result.blob, type: result.type };
        return { blob: await file("image/png"), type: "image/png" };
      },
    };

    on(select, "change", () => { chosen = true; sync(); fresh = false; });
    on(link, "click", async (event) => {
      if (fresh || !result) return; // the link already holds this file: the browser saves it
      event.preventDefault();
      if (link.dataset.busy) return;
      link.dataset.busy = "1";
      app.setText(status, "save.preparing");
      try {
        point(await file(select.value));
        status.textContent = "";
        delete status.dataset.i18n;
        link.click();
      } catch (e) {
        app.setText(status, "err.unknown");
      } finally {
        delete link.dataset.busy;
      }
    });
    return () => {
      off();
      if (url) URL.revokeObjectURL(url);
      delete app.save;
    };
  });
})();
