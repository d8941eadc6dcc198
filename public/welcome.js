// imgmend home page: back from Stripe Checkout with ?session_id= -> verify, show and copy the Pro key.
"use strict";

(() => {
  const app = window.imgmend;
  const params = new URLSearchParams(location.search);
  const sessionId = params.get("session_id");
  if (!sessionId) return;
  const { $ } = app;
  const status = $("welcome-status");
  $("pro-welcome").hidden = false;

  app.ready.then(async () => {
    app.setText(status, "welcome.checking");
    try {
      const reply = await app.postJson("/api/verify_pro", { session_id: sessionId });
      app.pro.save(reply);
      status.textContent = "";
      delete status.dataset.i18n;
      $("welcome-key-value").textContent = reply.pro_key;
      $("welcome-key").hidden = false;
      history.replaceState(null, "", location.pathname); // the session id is not needed any more
    } catch (e) {
      app.setText(status, "welcome.failed");
    }
  });

  $("welcome-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("welcome-key-value").textContent);
      app.setText($("welcome-copy"), "welcome.copied");
    } catch (e) {
      const range = document.createRange(); // no clipboard permission: select it for Ctrl+C
      range.selectNodeContents($("welcome-key-value"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
    }
  });
})();
