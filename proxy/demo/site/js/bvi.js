/* "Version for the visually impaired": the site's own accessibility widget.
   It pins an absolute pixel size with !important on every element and removes focus
   outlines, as many such widgets do; a11y-proxy is meant to switch it off. */
(function () {
  "use strict";

  var UK = document.documentElement.lang === "uk";
  var LABELS = UK
    ? { bigger: "A+", smaller: "A-", white: "\u0427/\u0411", blue: "\u0421\u0438\u043d\u0456\u0439",
        normal: "\u0417\u0432\u0438\u0447\u0430\u0439\u043d\u0430 \u0432\u0435\u0440\u0441\u0456\u044f" }
    : { bigger: "A+", smaller: "A-", white: "B/W", blue: "Blue", normal: "Normal version" };
  var THEMES = { white: ["#fff", "#000"], blue: ["#9dd1ff", "#063462"] };
  var state = { size: 18, theme: "white" };

  function paint() {
    var all = document.body.getElementsByTagName("*");
    var colours = THEMES[state.theme];
    for (var i = 0; i < all.length; i++) {
      var s = all[i].style;
      s.setProperty("font-size", state.size + "px", "important");
      s.setProperty("line-height", Math.round(state.size * 1.4) + "px", "important");
      s.setProperty("outline", "none", "important");
      s.setProperty("background-color", colours[0], "important");
      s.setProperty("color", colours[1], "important");
    }
    document.cookie = "bvi=" + state.size + ":" + state.theme + "; path=/";
  }

  function open() {
    if (!document.querySelector(".bvi-panel")) {
      var panel = document.createElement("div");
      panel.className = "bvi-panel";
      var html = "";
      for (var action in LABELS) {
        html += '<button type="button" data-bvi-action="' + action + '">' + LABELS[action] + "</button>";
      }
      panel.innerHTML = html;
      document.body.insertBefore(panel, document.body.firstChild);
    }
    paint();
  }

  function act(action) {
    if (action === "bigger") { state.size = Math.min(state.size + 2, 32); }
    if (action === "smaller") { state.size = Math.max(state.size - 2, 12); }
    if (THEMES[action]) { state.theme = action; }
    if (action === "normal") {
      document.cookie = "bvi=; max-age=0; path=/";
      location.reload();
      return;
    }
    paint();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.getAttribute("data-bvi") === "open") { event.preventDefault(); open(); }
    if (target.getAttribute("data-bvi-action")) { act(target.getAttribute("data-bvi-action")); }
  });

  var saved = /(?:^|; )bvi=(\d+):(\w+)/.exec(document.cookie);
  if (saved) {
    state.size = parseInt(saved[1], 10);
    state.theme = THEMES[saved[2]] ? saved[2] : "white";
    document.addEventListener("DOMContentLoaded", open);
  }
})();
