// alipay-emulator pages: copy buttons, reveal toggles, live regions. No other host is contacted.
(function () {
  "use strict";

  function copy(text, button) {
    function done() {
      var old = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = old; }, 1200);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else {
      fallback(text);
      done();
    }
  }

  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try offline */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) { return; }
    if (button.dataset.copy) {
      var source = document.getElementById(button.dataset.copy);
      if (source) { copy(source.textContent, button); }
    }
    if (button.dataset.reveal) {
      var secret = document.getElementById(button.dataset.reveal);
      if (secret) {
        secret.hidden = !secret.hidden;
        button.textContent = secret.hidden ? "Reveal" : "Hide";
      }
    }
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  // <section data-refresh="/some/fragment" data-interval="2000">: replaced by the fragment's
  // HTML every interval while the page is open (the request log, the outbox, run grades).
  function refresh(region) {
    var url = region.dataset.refresh;
    fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && html !== region.innerHTML) { region.innerHTML = html; } })
      .catch(function () { /* the emulator may be restarting: try again next tick */ });
  }
  document.querySelectorAll("[data-refresh]").forEach(function (region) {
    var every = parseInt(region.dataset.interval || "2000", 10);
    setInterval(function () { refresh(region); }, Math.max(every, 500));
  });
})();
