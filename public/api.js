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

  async function failure(reply) {
    let error = {};
    try { error = (await reply.json()).error || {}; } catch (e) { /* not JSON: a platform error page */ }
    let code = typeof error.code === "string" ? error.code
      : reply.status === 413 ? "payload_too_large" : "unknown";
    // A revoked token (refund, dispute, cancellation): say why this tab is back on the free plan.
    if (code === "invalid_token" && error.reason === "revoked") code = "pro_revoked";
    if (code === "invalid_token" || code === "pro_revoked") app.pro.clear();
    return new ApiError(code, reply.status, error);
  }

  // A self-hosted server whose queue is full answers 503 busy with Retry-After: wait that long
  // (telling the page each second), then try again, a bounded number of times.
  const BUSY_TRIES = 20;
  const pause = (ms, signal) => new Promise((resolve, reject) => {
    const id = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(id); reject(new DOMException("Aborted", "AbortError")); }, { once: true });
  });

  async function sendWhenFree(path, options, onBusy) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await send(path, options);
      } catch (e) {
        if (!(e instanceof ApiError) || e.code !== "busy" || attempt >= BUSY_TRIES) throw e;
        const wait = Math.min(120, Math.max(1, Number.parseInt(e.data.retry_after, 10) || 5));
        for (let left = wait; left > 0; left -= 1) {
          if (onBusy) onBusy(left);
          await pause(1000, options.signal);
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
    if (!reply.ok) throw await failure(reply);
    return reply;
  }

  let config = null;
  app.config = () => {
    if (!config) {
      config = send("/api/config", { headers: authHeaders() }).then((r) => r.json())
        .catch(() => ({ limits: { max_bytes: 4194304, max_pixels: 40000000 }, free_remaining: null }));
    }
    return config;
  };

  function authHeaders() {
    const token = app.pro.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  // An image request: FormData in, {blob, type, remaining} out; throws ApiError or AbortError.
  // `onBusy(seconds)` hears the countdown while a busy server is waited for (0 when it retries).
  app.postImage = async (path, form, signal, onBusy) => {
    const reply = await sendWhenFree(path, { method: "POST", body: form, headers: authHeaders(), signal }, onBusy);
    const blob = await reply.blob();
    return { blob, type: reply.headers.get("Content-Type") || blob.type, remaining: reply.headers.get("X-Quota-Remaining") };
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
    if (/^(upstream_|network|unknown|not_configured|busy)/.test(code)) return ["next.retry", null, null];
    return ["next.other", null, null];
  };

  app.errorKey = (code) => {
    const key = `err.${code}`;
    return app.t(key) === key ? "err.unknown" : key;
  };
})();
