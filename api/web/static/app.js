// A little plain JavaScript: no framework, nothing loaded from elsewhere.
// A submitted form can't be sent twice by a double click; "back" links go back.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-busy", "true"); });
});
document.addEventListener("click", function (event) {
  var link = event.target.closest("a[data-back]");
  if (link && window.history.length > 1) { event.preventDefault(); window.history.back(); }
});
// A print button prints the page (the letter, the roster, the overdue ledger, the report).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
// "Select all" of a bulk form ticks every letter's box that belongs to that form.
document.addEventListener("change", function (event) {
  var all = event.target.closest("[data-select-all]");
  if (!all) { return; }
  document.querySelectorAll("input[type=checkbox][name=transfer_id][form='" + all.dataset.selectAll + "']")
    .forEach(function (box) { box.checked = all.checked; });
});
