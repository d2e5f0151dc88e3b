// Live pages: while <body data-live="fast"> (something is still running) the page fetches
// itself every 2 s and swaps in the elements marked data-live-region; those marked
// data-live-on-status only when the status changed, so a form being filled in is left alone.
// With data-live="slow" (everything final) it looks every 15 s, for imports started elsewhere.
(function () {
  "use strict";
  var FAST = 2000, SLOW = 15000;

  function swap(fresh, selector) {
    document.querySelectorAll(selector).forEach(function (old) {
      var replacement = old.id && fresh.getElementById(old.id);
      if (replacement) old.replaceWith(document.importNode(replacement, true));
    });
  }

  function refresh() {
    if (document.hidden) return schedule();
    fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        // Signed out meanwhile (a revoked key): let the server's redirect take the page.
        if (response.redirected && response.url.indexOf("/sign-in") !== -1) {
          window.location.assign(response.url);
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var body = document.body;
          swap(fresh, "[data-live-region]");
          if (fresh.body.dataset.status !== body.dataset.status) {
            swap(fresh, "[data-live-on-status]");
            body.dataset.status = fresh.body.dataset.status || "";
          }
          body.dataset.live = fresh.body.dataset.live || "slow";
        }
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .then(schedule);
  }

  function schedule() {
    window.setTimeout(refresh, document.body.dataset.live === "fast" ? FAST : SLOW);
  }

  schedule();
})();
