/* The member's redemption code: count down to its expiry, then strike it through. */
(function () {
  var el = document.getElementById('countdown');
  if (!el) { return; }
  var end = Date.now() + parseInt(el.dataset.seconds, 10) * 1000;
  function tick() {
    var left = Math.max(0, Math.round((end - Date.now()) / 1000));
    el.textContent = Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0');
    if (left === 0) {
      document.getElementById('expired-note').classList.remove('d-none');
      document.querySelector('[data-testid=code]').classList.add('text-decoration-line-through', 'text-muted');
      return;
    }
    setTimeout(tick, 1000);
  }
  tick();
})();
