// imgmend: brush input on an editor canvas, shared by the watermark mask and the cut-out: strokes by
// mouse, pen or finger, boxes dragged out, and [ and ] for the brush size.
"use strict";

(() => {
  const app = window.imgmend;

  // hooks: {size (range input), mode() -> "box" or another, begin(), stroke(from, to, width), box(rect),
  // preview(rect|null), end()}; points and widths are in the canvas's own pixels.
  app.painter = (canvas, hooks) => {
    const { on, off } = app.listeners();
    let last = null;
    let anchor = null;

    function point(event) {
      const box = canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * (canvas.width / box.width), (event.clientY - box.top) * (canvas.height / box.height)];
    }
    const width = () => Number(hooks.size.value) * (canvas.width / Math.max(1, canvas.getBoundingClientRect().width));
    const rect = (a, b) => ({ x: Math.min(a[0], b[0]), y: Math.min(a[1], b[1]), w: Math.abs(a[0] - b[0]), h: Math.abs(a[1] - b[1]) });

    on(canvas, "pointerdown", (event) => {
      if (hooks.enabled && !hooks.enabled()) return;
      canvas.setPointerCapture(event.pointerId);
      hooks.begin();
      if (hooks.mode() === "box") { anchor = point(event); return; }
      last = point(event);
      hooks.stroke(last, last, width());
    });
    on(canvas, "pointermove", (event) => {
      if (anchor) { hooks.preview(rect(anchor, point(event))); return; }
      if (!last) return;
      const next = point(event);
      hooks.stroke(last, next, width());
      last = next;
    });
    const stop = (event) => {
      if (anchor) {
        const r = rect(anchor, point(event));
        anchor = null;
        hooks.preview(null);
        if (r.w >= 1 && r.h >= 1) hooks.box(r);
      }
      if (last || event.type === "pointerup") hooks.end();
      last = null;
    };
    on(canvas, "pointerup", stop);
    on(canvas, "pointercancel", stop);

    // [ smaller, ] larger, while this editor is on screen and no text field has the keys.
    on(document, "keydown", (event) => {
      if (event.key !== "[" && event.key !== "]") return;
      if (!canvas.offsetParent || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target.closest && event.target.closest("input[type=text], textarea, select")) return;
      const input = hooks.size;
      const now = Number(input.value);
      const next = event.key === "]" ? Math.max(now + 1, Math.round(now * 1.25)) : Math.min(now - 1, Math.round(now / 1.25));
      input.value = String(Math.min(Number(input.max), Math.max(Number(input.min), next)));
      input.dispatchEvent(new Event("input", { bubbles: true }));
      event.preventDefault();
    });
    return { detach: off };
  };

  // The brush's size next to its slider ("28 px").
  app.showSize = (input, output) => {
    const show = () => { output.textContent = `${input.value} px`; };
    input.addEventListener("input", show);
    show();
  };
})();
