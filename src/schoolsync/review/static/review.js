// The review page's only script: the filter box and "tick all/none shown". Everything else
// (match, unmatch, import, save) is plain form controls, so the page works by keyboard alone.
(function () {
  "use strict";
  var plain = function (text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  };
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.lines tbody tr"));
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var timer = null;
  function apply() {
    var words = plain(filter.value).split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-s");
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = words.length ? count + " of " + rows.length + " shown" : "";
  }
  filter.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 80);
  });
  document.querySelectorAll("[data-tick]").forEach(function (button) {
    button.addEventListener("click", function () {
      var on = button.getAttribute("data-tick") === "1";
      var boxes = button.closest("section").querySelectorAll(
        "tbody tr:not([hidden]) input[type=checkbox]:not(:disabled)");
      boxes.forEach(function (box) { box.checked = on; });
    });
  });
  var problems = document.getElementById("problems");
  if (problems) { problems.focus(); }
})();
