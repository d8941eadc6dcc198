// imgmend Pro page: price from /api/config, buy through Stripe Checkout, unlock with a Pro key,
// and "Manage subscription" (Stripe's customer portal, or its email login for a key-only tab).
"use strict";

(() => {
  const app = window.imgmend;
  const { $ } = app;
  const buy = $("buy");

  function fail(el, error) {
    const code = error && error.code ? error.code : "unknown";
    app.setText(el, app.errorKey(code));
  }

  // Only Stripe's pages (https) or our own may be opened from an API reply.
  function go(el, reply) {
    const url = new URL(String(reply.url), location.href);
    if (url.protocol === "https:" || url.origin === location.origin) {
      location.assign(url.href);
      return true;
    }
    fail(el, null);
    return false;
  }

  const manage = { button: $("manage"), status: $("manage-status") };
  // The note is for everyone (how billing is reached); the button needs this tab's Pro token.
  const syncManage = () => { manage.button.parentNode.hidden = !app.pro.token(); };
  document.addEventListener("imgmend:pro", syncManage);
  syncManage();

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
      if (go($("buy-status"), reply)) return;
    } catch (e) {
      fail($("buy-status"), e);
    }
    buy.disabled = false;
  });

  manage.button.addEventListener("click", async () => {
    manage.button.disabled = true;
    app.setText(manage.status, "pro.manage.opening");
    try {
      // A tab fresh from Checkout gets a portal session; any other gets Stripe's email login.
      const reply = await app.postJson("/api/billing_portal", {}, { auth: true });
      if (go(manage.status, reply)) return;
    } catch (e) {
      fail(manage.status, e);
    }
    manage.button.disabled = false;
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
