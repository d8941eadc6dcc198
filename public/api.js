// imgmend: same-origin API calls, the Pro token (sessionStorage only) and translated errors.
"use strict";

(() => {
  const app = (window.imgmend = window.imgmend || {});
  // One sessionStorage entry, as the privacy policy says: {token, key}, gone when the tab closes.
  const PRO = "imgmend.pro";

  const session = {
    read() {
      try {
        const value = JSON.parse(sessionStorage.getItem(PRO) || "null");
        return value && typeof value.token === "string" ? value : null;
      } catch (e) { return null; }
    },
    write(value) { try { sessionStorage.setItem(PRO, JSON.stringify(value)); } catch (e) { /* this page only */ } },
    drop() { try { sessionStorage.removeItem(PRO); } catch (e) { /* nothing stored */ } },
  };

  app.pro = {
    token: () => (session.read() || {}).token || null,
    key: () => (session.read() || {}).key || null,
    save(reply) {
      session.write({ token: reply.token, key: reply.pro_key });
      document.dispatchEvent(new CustomEvent("imgmend:pro"));
    },
    clear() {
      session.drop();
      document.dispatchEvent(new CustomEvent("imgmend:pro"));
    },
  };

  // Object URLs of images on the page, revoked together when the user moves on (each pins its blob).
  app.blobUrls = () => {
    let urls = [];
    return {
      remember(blob) { const url = URL.createObjectURL(blob); urls.push(url); return url; },
      forget() { urls.forEach((u) => URL.revokeObjectURL(u)); urls = []; },
    };
  };

  class ApiError extends Error {
    constructor(code, status, data) {
      super(code);
      this.code = code;
      this.status = status;
      this.data = data || {};
    }
  }
  app.ApiError = ApiError;

  // An error reply as an ApiError: `status` and the body's text (JSON, or a platform error page).
  function failure(status, text) {
    let error = {};
    try { error = JSON.parse(text).error || {}; } catch (e) { /* not JSON: a platform error page */ }
    let code = typeof error.code === "string" ? error.code
      : status === 413 ? "payload_too_large" : "unknown";
    // A revoked token (refund, dispute, cancellation): say why this tab is back on the free plan.
    if (code === "invalid_token" && error.reason === "revoked") code = "pro_revoked";
    if (code === "invalid_token" || code === "pro_revoked") app.pro.clear();
    return new ApiError(code, status, error);
  }

  // A self-hosted server whose queue is full answers 503 busy with Retry-After: wait that long
  // (telling the page each second), then try again, a bounded number of times.
  const BUSY_TRIES = 20;
  const pause = (ms, signal) => new Promise((resolve, reject) => {
    const id = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(id); reject(new DOMException("Aborted", "AbortError")); }, { once: true });
  });

  async function sendWhenFree(once, signal, onBusy) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await once();
      } catch (e) {
        if (!(e instanceof ApiError) || e.code !== "busy" || attempt >= BUSY_TRIES) throw e;
        const wait = Math.min(120, Math.max(1, Number.parseInt(e.data.retry_after, 10) || 5));
        for (let left = wait; left > 0; left -= 1) {
          if (onBusy) onBusy(left);
          await pause(1000, signal);
        }
        if (onBusy) onBusy(0);
      }
    }
  }

  async function send(path, options) {
    let reply;
    try {
      reply = await fetch(path, options);
    } catch (e) {
      if (e && e.name === "AbortError") throw e;
      throw new ApiError("network", 0);
    }
    if (!reply.ok) throw failure(reply.status, await reply.text().catch(() => ""));
    return reply;
  }

  // One image request by XMLHttpRequest, the one browser API that reports upload progress (fetch has
  // none). `stage(name, fraction)` hears "upload" (fraction sent, or null when unknown), "process"
  // (every byte is sent, the server is working) and "download" (fraction of the result received).
  function post(path, body, headers, signal, stage) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const tell = (name, event) => {
        if (stage) stage(name, event && event.lengthComputable && event.total ? event.loaded / event.total : null);
      };
      const aborted = () => reject(new DOMException("Aborted", "AbortError"));
      if (signal && signal.aborted) { aborted(); return; }
      xhr.open("POST", path);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.responseType = "blob";
      xhr.upload.addEventListener("progress", (event) => tell("upload", event));
      xhr.upload.addEventListener("load", () => tell("process"));
      xhr.addEventListener("progress", (event) => tell("download", event));
      xhr.addEventListener("error", () => reject(new ApiError("network", 0)));
      xhr.addEventListener("abort", aborted);
      xhr.addEventListener("load", async () => {
        if (xhr.status >= 200 && xhr.status < 300) { resolve(xhr); return; }
        const text = xhr.response ? await xhr.response.text().catch(() => "") : "";
        reject(failure(xhr.status, text));
      });
      if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
      tell("upload", { lengthComputable: false });
      xhr.send(body);
    });
  }

  // Only used when /api/config cannot be read (the server is unreachable then, so nothing would run).
  const OFFLINE = { limits: { max_bytes: 4194304, max_pixels: 40000000, formats: ["image/jpeg", "image/png", "image/webp"] },
    free_remaining: null, engine: null };
  let config = null;
  app.config = () => {
    if (!config) {
      config = send("/api/config", { headers: authHeaders() }).then((r) => r.json()).catch(() => OFFLINE);
    }
    return config;
  };

  function authHeaders() {
    const token = app.pro.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  // An image request: FormData in, {blob, type, remaining} out; throws ApiError or AbortError.
  // `hear.busy(seconds)`: the countdown while a busy server is waited for (0 when it retries);
  // `hear.stage(name, fraction)`: upload, process and download, as post() above says.
  app.postImage = async (path, form, signal, hear) => {
    const { busy, stage } = hear || {};
    const xhr = await sendWhenFree(() => post(path, form, authHeaders(), signal, stage), signal, busy);
    const blob = xhr.response;
    return { blob, type: xhr.getResponseHeader("Content-Type") || blob.type, remaining: xhr.getResponseHeader("X-Quota-Remaining") };
  };

  // A JSON request; {auth: true} sends the Pro token too (the API refuses JSON of any other type).
  app.postJson = async (path, body, options) => {
    const headers = { "Content-Type": "application/json", ...(options && options.auth ? authHeaders() : {}) };
    const reply = await send(path, { method: "POST", headers, body: JSON.stringify(body) });
    return reply.json();
  };

  // Free images left now (not the cached config): after Pro ends, the page shows the free count.
  app.freeRemaining = async () => {
    try { return (await (await send("/api/config")).json()).free_remaining; } catch (e) { return null; }
  };

  // The next step for an error: [text key, link href or null, link text key].
  app.nextStep = (code) => {
    if (code === "quota_exceeded") return ["next.quota_exceeded", "/pro", "next.pro.link"];
    if (code === "invalid_token") return ["next.invalid_token", "/pro", "next.pro.link"];
    if (code === "pro_revoked") return ["next.pro_revoked", "/pro", "next.pro.link"];
    if (code === "rate_limited") return ["next.rate_limited", null, null];
    if (code === "no_watermark_found") return ["next.no_watermark_found", null, null];
    if (code === "unsupported_format") return ["next.unsupported_format", null, null];
    if (/^(upstream_|network|unknown|not_configured|busy)/.test(code)) return ["next.retry", null, null];
    return ["next.other", null, null];
  };

  app.errorKey = (code) => {
    const key = `err.${code}`;
    return app.t(key) === key ? "err.unknown" : key;
  };
})();
