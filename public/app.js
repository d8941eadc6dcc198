// imgmend: site-wide glue: the Pro badge in the header.
"use strict";

(() => {
  const app = window.imgmend;
  const badge = document.getElementById("pro-badge");
  const show = () => { if (badge) badge.hidden = !app.pro.token(); };
  document.addEventListener("imgmend:pro", show);
  show();
})();
