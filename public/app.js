// imgmend: send one photo to a tool and show the result. Vanilla JS, same origin only.
"use strict";

(() => {
  const TOOLS = {
    denoise: "denoised",
    remove_bg: "no-background",
    remove_watermark: "no-watermark",
  };
  const EXTENSIONS = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" };

  const $ = (id) => document.getElementById(id);
  const form = $("tool-form");
  const submit = $("submit");
  const statusLine = $("status");
  const errorLine = $("error");
  const result = $("result");
  const resultImg = $("result-img");
  const download = $("download");

  let maxBytes = 4 * 1024 * 1024; // the contract's limit; /api/config may say otherwise
  let resultUrl = null;
  let busy = false;

  const megabytes = (bytes) => `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;

  function selectedTool() {
    const value = form.elements.tool.value;
    return Object.prototype.hasOwnProperty.call(TOOLS, value) ? value : "denoise";
  }

  function showToolOptions() {
    const tool = selectedTool();
    $("bg-options").hidden = tool !== "remove_bg";
    $("wm-options").hidden = tool !== "remove_watermark";
  }

  function showError(message) {
    errorLine.textContent = message;
    errorLine.hidden = false;
  }

  function clearError() {
    errorLine.textContent = "";
    errorLine.hidden = true;
  }

  function showQuota(remaining) {
    const left = Number.parseInt(remaining, 10);
    if (Number.isInteger(left) && left >= 0) {
      $("quota").textContent = `Free images left today: ${left}`;
    }
  }

  // The busy state: button off, a ticking "Working… N s" line.
  function startBusy() {
    busy = true;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    const started = performance.now();
    const tick = () => {
      const seconds = Math.floor((performance.now() - started) / 1000);
      statusLine.textContent = `Working… ${seconds} s`;
    };
    tick();
    const timer = setInterval(tick, 1000);
    return () => {
      clearInterval(timer);
      busy = false;
      submit.disabled = false;
      form.removeAttribute("aria-busy");
      statusLine.textContent = "";
    };
  }

  function backgroundValue() {
    const choice = form.elements.background.value;
    if (choice === "colour") return $("bg-colour").value.toLowerCase(); // always #rrggbb
    return choice === "#ffffff" ? "#ffffff" : "transparent";
  }

  // "My Photo.jpeg" + remove_bg + image/png -> "My-Photo-no-background.png"
  function resultName(originalName, tool, type) {
    const stem = originalName.replace(/\.[^.]*$/, "").replace(/[^\p{L}\p{N}_-]+/gu, "-")
      .replace(/^-+|-+$/g, "").slice(0, 80) || "photo";
    const ext = EXTENSIONS[type.split(";")[0].trim().toLowerCase()] || "png";
    return `${stem}-${TOOLS[tool]}.${ext}`;
  }

  // The contract's JSON error message, or a plain sentence when the body is not ours
  // (e.g. the platform's own 413 page).
  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.message === "string") return body.error.message;
    } catch (_) {
      // not JSON: fall through
    }
    if (response.status === 413) return `The file is too large. The limit is ${megabytes(maxBytes)}.`;
    return `Something went wrong (HTTP ${response.status}). Please try again.`;
  }

  function showResult(blob, originalName, tool) {
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    resultUrl = URL.createObjectURL(blob);
    resultImg.src = resultUrl;
    download.href = resultUrl;
    download.download = resultName(originalName, tool, blob.type || "image/png");
    download.textContent = `Download ${download.download}`;
    result.hidden = false;
  }

  async function send(event) {
    event.preventDefault();
    if (busy) return;
    clearError();
    const file = $("image").files[0];
    if (!file) {
      showError("Choose a photo first.");
      return;
    }
    if (file.size > maxBytes) {
      showError(`The file is larger than the ${megabytes(maxBytes)} limit.`);
      return;
    }
    const tool = selectedTool();
    const body = new FormData();
    body.append("image", file, file.name);
    if (tool === "remove_bg") body.append("background", backgroundValue());
    const mask = $("mask").files[0];
    if (tool === "remove_watermark" && mask) body.append("mask", mask, mask.name);

    const stopBusy = startBusy();
    try {
      const response = await fetch(`/api/${tool}`, { method: "POST", body });
      showQuota(response.headers.get("X-Quota-Remaining"));
      if (!response.ok) {
        showError(await errorMessage(response));
        return;
      }
      showResult(await response.blob(), file.name, tool);
    } catch (_) {
      showError("Could not reach imgmend. Check your connection and try again.");
    } finally {
      stopBusy();
    }
  }

  async function loadConfig() {
    try {
      const response = await fetch("/api/config", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const config = await response.json();
      const bytes = config && config.limits && config.limits.max_bytes;
      if (Number.isInteger(bytes) && bytes > 0) {
        maxBytes = bytes;
        $("limits").textContent = `JPEG, PNG or WebP, up to ${megabytes(bytes)}.`;
      }
      if (config && config.free_remaining !== null && config.free_remaining !== undefined) {
        showQuota(config.free_remaining);
      }
    } catch (_) {
      // The page works with its defaults when /api/config is unavailable.
    }
  }

  form.addEventListener("change", showToolOptions);
  form.addEventListener("submit", send);
  $("bg-colour").addEventListener("input", () => {
    $("bg-colour-choice").checked = true;
  });
  window.addEventListener("pagehide", (event) => {
    if (event.persisted || !resultUrl) return; // kept in the back/forward cache: the link must still work
    URL.revokeObjectURL(resultUrl);
    resultUrl = null;
  });

  showToolOptions();
  loadConfig();
})();
