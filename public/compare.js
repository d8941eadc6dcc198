// imgmend before/after comparison: a split slider, zoom up to 4x, and panning by mouse, touch or arrow keys.
"use strict";

(() => {
  const app = window.imgmend;
  const $ = (id) => document.getElementById(id);
  const box = $("compare");
  if (!box) return;
  const slider = $("slider");
  const zoom = $("zoom");
  const shown = $("zoom-value");
  const panes = [box.querySelector(".pane-before"), box.querySelector(".pane-after")];
  const images = [$("before"), $("after")];
  const origin = { x: 50, y: 50 };
  let dragging = false;

  // The panes are clipped (they never move), the images inside them scale: the split line stays put.
  function paint() {
    const split = Number(slider.value);
    const scale = zoom ? Number(zoom.value) : 1;
    panes[0].style.clipPath = `inset(0 ${100 - split}% 0 0)`;
    panes[1].style.clipPath = `inset(0 0 0 ${split}%)`;
    for (const img of images) {
      img.style.transformOrigin = `${origin.x}% ${origin.y}%`;
      img.style.transform = scale > 1 ? `scale(${scale})` : "";
    }
    box.style.setProperty("--split", `${split}%`);
    box.classList.toggle("zoomed", scale > 1);
    if (shown) shown.textContent = `${Math.round(scale * 100)}%`;
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
    if (event.key === "+" || event.key === "=") { zoom.stepUp(); paint(); event.preventDefault(); return; }
    if (event.key === "-") { zoom.stepDown(); paint(); event.preventDefault(); return; }
    const step = STEP[event.key];
    if (!step || !box.classList.contains("zoomed")) return;
    origin.x = clamp(origin.x + step[0]);
    origin.y = clamp(origin.y + step[1]);
    paint();
    event.preventDefault();
  });

  slider.addEventListener("input", paint);
  if (zoom) zoom.addEventListener("input", paint);

  app.compare = {
    reset() {
      slider.value = "50";
      if (zoom) zoom.value = "1";
      origin.x = 50;
      origin.y = 50;
      paint();
    },
  };
})();
