// smsgate dashboard: live refresh of the [data-live] regions, and "select all" boxes.
// No framework: the page is server-rendered; this only re-fetches it and swaps regions.
(function () {
  "use strict";
  var PERIOD = 3000;
  var toggle = document.getElementById("live-toggle");
  var stamp = document.getElementById("updated");

  if (toggle) {
    toggle.checked = localStorage.getItem("smsgate-live") !== "off";
    toggle.addEventListener("change", function () {
      localStorage.setItem("smsgate-live", toggle.checked ? "on" : "off");
    });
  }

  function busy() {
    // Never pull the page from under an operator who is typing or has ticked rows.
    var active = document.activeElement;
    if (active && active.closest && active.closest("form") && active.tagName !== "BUTTON") return true;
    if (document.querySelector("[data-live] input[type=checkbox]:checked")) return true;
    if (document.querySelector("input[form=bulk]:checked")) return true;
    if (document.querySelector("[data-live] details[open]")) return true;
    return false;
  }

  function refresh() {
    if (!toggle || !toggle.checked || document.hidden || busy()) return;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/dashboard/login") !== -1) {
          location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html || busy()) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (region) {
          var replacement = fresh.getElementById(region.id);
          if (replacement) region.replaceWith(document.importNode(replacement, true));
        });
        var freshStamp = fresh.getElementById("updated");
        if (stamp && freshStamp) stamp.textContent = freshStamp.textContent;
      })
      .catch(function () { /* the next tick tries again */ });
  }

  setInterval(refresh, PERIOD);

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    var group = box.getAttribute("data-select-all");
    document.querySelectorAll('[data-select="' + group + '"]').forEach(function (item) {
      item.checked = box.checked;
    });
  });
})();
