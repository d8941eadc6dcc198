// imgmend before/after comparison: a split slider, zoom up to 4x or to the photo's own pixels (1:1),
// and panning by mouse, touch or arrow keys.
"use strict";

(() => {
  const app = window.imgmend;

  app.mount("compare", () => {
    const { $ } = app;
    const box = $("compare");
    if (!box) return null;
    const slider = $("slider");
    const zoom = $("zoom");
    const shown = $("zoom-value");
    const actual = $("actual");
    const panes = [box.querySelector(".pane-before"), box.querySelector(".pane-after")];
    const layers = [...box.querySelectorAll(".pane img, .pane canvas")]; // everything that zooms
    const origin = { x: 50, y: 50 };
    let dragging = false;
    let oneToOne = false; // zoomed so that one photo pixel is one CSS pixel

    // How far to zoom for 1:1: the photo's width over the width it is laid out at.
    function native() {
      const before = $("before");
      return before.naturalWidth && before.offsetWidth ? before.naturalWidth / before.offsetWidth : 1;
    }

    // The panes are clipped (they never move), the images inside them scale: the split line stays put.
    function paint() {
      const split = Number(slider.value);
      const scale = oneToOne ? native() : zoom ? Number(zoom.value) : 1;
      panes[0].style.clipPath = `inset(0 ${100 - split}% 0 0)`;
      panes[1].style.clipPath = `inset(0 0 0 ${split}%)`;
      for (const layer of layers) {
        layer.style.transformOrigin = `${origin.x}% ${origin.y}%`;
        layer.style.transform = scale !== 1 ? `scale(${scale})` : "";
      }
      box.style.setProperty("--split", `${split}%`);
      box.classList.toggle("zoomed", scale > 1);
      if (shown) shown.textContent = `${Math.round(scale * 100)}%`;
      if (actual) actual.setAttribute("aria-pressed", String(oneToOne));
      if (oneToOne && zoom) zoom.value = String(Math.min(Number(zoom.max), scale));
    }

    const clamp = (v) => Math.min(100, Math.max(0, v));

    function aim(event) {
      const rect = box.getBoundingClientRect();
      origin.x = clamp(((event.clientX - rect.left) / rect.width) * 100);
      origin.y = clamp(((event.clientY - rect.top) / rect.height) * 100);
      paint();
    }

    box.addEventListener("pointerdown", (event) => {
      if (!box.classList.contains("zoomed")) return;
      dragging = true;
      box.setPointerCapture(event.pointerId);
      aim(event);
    });
    box.addEventListener("pointermove", (event) => { if (dragging || event.pointerType === "mouse") { if (box.classList.contains("zoomed")) aim(event); } });
    box.addEventListener("pointerup", () => { dragging = false; });
    box.addEventListener("pointercancel", () => { dragging = false; });

    const STEP = { ArrowLeft: [-10, 0], ArrowRight: [10, 0], ArrowUp: [0, -10], ArrowDown: [0, 10] };
    box.addEventListener("keydown", (event) => {
      if (event.key === "+" || event.key === "=") { oneToOne = false; zoom.stepUp(); paint(); event.preventDefault(); return; }
      if (event.key === "-") { oneToOne = false; zoom.stepDown(); paint(); event.preventDefault(); return; }
      const step = STEP[event.key];
      if (!step || !box.classList.contains("zoomed")) return;
      origin.x = clamp(origin.x + step[0]);
      origin.y = clamp(origin.y + step[1]);
      paint();
      event.preventDefault();
    });

    slider.addEventListener("input", paint);
    if (zoom) zoom.addEventListener("input", () => { oneToOne = false; paint(); });
    if (actual) actual.addEventListener("click", () => { oneToOne = !oneToOne; paint(); });

    app.compare = {
      reset() {
        slider.value = "50";
        if (zoom) zoom.value = "1";
        oneToOne = false;
        origin.x = 50;
        origin.y = 50;
        paint();
      },
      // After a layer changed its size or visibility (a canvas shown in the after pane).
      refresh() { layers.splice(0, layers.length, ...box.querySelectorAll(".pane img, .pane canvas")); paint(); },
    };
    return () => { delete app.compare; };
  });
})();
