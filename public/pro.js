// imgmend Pro page: price from /api/config, buy through Stripe Checkout, unlock with a Pro key.
"use strict";

(() => {
  const app = window.imgmend;
  const $ = (id) => document.getElementById(id);
  const buy = $("buy");

  function fail(el, error) {
    const code = error && error.code ? error.code : "unknown";
    app.setText(el, app.errorKey(code));
  }

  app.ready.then(async () => {
    const config = await app.config();
    if (config.pro_price) app.setText($("price"), "pro.price", { price: config.pro_price });
    else app.setText($("price"), "pro.price.none");
    if (config.pro_available === false) app.setText($("buy-status"), "pro.unavailable");
    if (app.pro.token()) app.setText($("key-status"), "pro.key.ok");
  });

  buy.addEventListener("click", async () => {
    buy.disabled = true;
    app.setText($("buy-status"), "pro.buying");
    try {
      const reply = await app.postJson("/api/create_checkout", { lang: app.lang === "zh" ? "zh" : "en" });
      const url = new URL(String(reply.url), location.href);
      if (url.protocol === "https:" || url.origin === location.origin) {
        location.assign(url.href);
        return;
      }
      fail($("buy-status"), null);
    } catch (e) {
      fail($("buy-status"), e);
    }
    buy.disabled = false;
  });

  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("pro-key").value.trim();
    if (!key) { $("pro-key").focus(); return; }
    app.setText($("key-status"), "pro.key.checking");
    try {
      app.pro.save(await app.postJson("/api/verify_pro", { pro_key: key }));
      app.setText($("key-status"), "pro.key.ok");
    } catch (e) {
      fail($("key-status"), e);
    }
  });
})();
