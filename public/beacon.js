// imgmend page-view beacon: sends only this page's path, with no identifier of any kind, and
// nothing at all when the browser signals Global Privacy Control or Do Not Track. A tool reached
// in-page (switch.js) counts its path the same way.
(function () {
  "use strict";
  var nav = window.navigator;
  if (nav.globalPrivacyControl === true || nav.doNotTrack === "1" || window.doNotTrack === "1") return;
  if (typeof nav.sendBeacon !== "function") return;
  function send(path) {
    try {
      // A string body goes out as text/plain: a "simple" request, no preflight; the server accepts it.
      nav.sendBeacon("/api/event", JSON.stringify({ path: path }));
    } catch (e) {
      // Counting is optional: never let it disturb the page.
    }
  }
  if (window.imgmend) window.imgmend.beacon = send;
  send(document.documentElement.getAttribute("data-page") || window.location.pathname);
})();
