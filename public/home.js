// imgmend home page: try a tool at once. A photo dropped anywhere on the page, picked or pasted is
// checked, then the page asks which tool; a sample photo goes straight into its tool. Either way the
// photo is handed over in memory (switch.js), never stored.
"use strict";

(() => {
  const app = window.imgmend;

  app.mount("home", () => {
    const { $ } = app;
    const start = $("start");
    if (!start) return null;
    const which = $("which");
    const input = $("home-file");
    const { on, off } = app.listeners();
    let photo = null;
    let url = null;

    async function fail(code) {
      app.setText($("home-error-text"), app.errorKey(code));
      app.setText($("home-error-next"), app.nextStep(code)[0], { formats: await app.formats.label() });
      $("home-error").hidden = false;
    }

    async function take(files) {
      if (!files || !files.length) return;
      const file = files[0];
      $("home-error").hidden = true;
      try { await app.checkFormat(file); } catch (e) { fail(e.code || "invalid_image"); return; }
      photo = file;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(file);
      $("which-photo").src = url;
      app.setText($("which-name"), "tool.selected", { name: file.name || "photo" });
      start.hidden = true;
      which.hidden = false;
      which.querySelector("button[data-page]").focus();
    }

    async function sample(button) {
      button.disabled = true;
      try {
        const reply = await fetch(button.dataset.sample);
        if (!reply.ok) throw new Error(String(reply.status));
        await app.switchTo(button.dataset.page, new File([await reply.blob()], "sample.jpg", { type: "image/jpeg" }));
      } catch (e) {
        button.disabled = false;
        fail("network");
      }
    }

    on($("home-choose"), "click", () => input.click());
    on(input, "change", () => take(input.files));
    on(document, "dragover", (event) => { event.preventDefault(); start.classList.add("over"); });
    on(document, "dragleave", (event) => { if (!event.relatedTarget) start.classList.remove("over"); });
    on(document, "drop", (event) => {
      event.preventDefault();
      start.classList.remove("over");
      take(event.dataTransfer.files);
    });
    on(document, "paste", (event) => {
      const item = [...event.clipboardData.items].find((i) => i.kind === "file");
      if (item) take([item.getAsFile()]);
    });
    for (const button of which.querySelectorAll("button[data-page]")) {
      on(button, "click", () => { if (photo) app.switchTo(button.dataset.page, photo); });
    }
    for (const button of document.querySelectorAll("button[data-sample]")) on(button, "click", () => sample(button));
    on($("which-again"), "click", () => {
      which.hidden = true;
      start.hidden = false;
      input.value = "";
      $("home-choose").focus();
    });

    const formats = async () => {
      input.accept = await app.formats.accept();
      app.setText($("formats"), "tool.formats", { formats: await app.formats.label() });
    };
    on(document, "imgmend:lang", formats);
    app.ready.then(formats);
    return () => { off(); if (url) URL.revokeObjectURL(url); };
  });
})();
