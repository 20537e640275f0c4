/* The approval queue: one box ticks or clears every record. */
(function () {
  var all = document.getElementById('select-all');
  if (!all) { return; }
  all.addEventListener('change', function () {
    document.querySelectorAll('.record-check').forEach(function (box) { box.checked = all.checked; });
  });
})();
