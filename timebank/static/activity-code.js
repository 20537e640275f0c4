/* The organiser's rotating check-in code: a countdown, then the next code from code.json.
   The panel carries everything it needs in data attributes; no inline script is used. */
(function () {
  'use strict';
  var panel = document.querySelector('[data-code-panel]');
  if (!panel || !window.fetch) { return; }

  var source = panel.getAttribute('data-code-url');
  var digits = panel.querySelector('[data-code-digits]');
  var qr = panel.querySelector('[data-code-qr]');
  var countdown = panel.querySelector('[data-code-countdown]');
  var link = panel.querySelector('[data-code-link]');
  var note = panel.querySelector('[data-code-note]');
  var deadline = Date.now() + seconds(panel.getAttribute('data-seconds-left')) * 1000;
  var timer = null;
  var failures = 0;
  var stopped = false;

  function seconds(raw) {
    var n = parseInt(raw, 10);
    return isNaN(n) || n < 1 ? 1 : n;
  }

  function say(text) {
    if (!note) { return; }
    note.textContent = text || '';
    note.classList.toggle('d-none', !text);
  }

  function show(left) {
    countdown.textContent = Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0');
  }

  function apply(body) {
    digits.setAttribute('data-code', body.code);
    digits.textContent = body.code.slice(0, 3) + ' ' + body.code.slice(3);
    digits.classList.remove('is-stale');
    // Parsed as HTML, as the page itself was, so the <svg> lands in the SVG namespace.
    var svg = new DOMParser().parseFromString(body.qr_svg, 'text/html').querySelector('svg');
    if (svg) { qr.replaceChildren(document.importNode(svg, true)); }
    if (link) { link.textContent = body.url; }
    deadline = Date.now() + seconds(body.seconds_left) * 1000;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(tick, ms);
  }

  function tick() {
    if (stopped) { return; }
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    show(left);
    if (left === 0) {
      refresh();
      return;
    }
    schedule(Math.max(50, Math.min(1000, deadline - Date.now() - (left - 1) * 1000 + 20)));
  }

  function refresh() {
    fetch(source, {credentials: 'same-origin', cache: 'no-store',
                   headers: {'Accept': 'application/json'}})
      .then(function (res) {
        var type = res.headers.get('Content-Type') || '';
        if (res.redirected || type.indexOf('application/json') === -1) {
          throw new Error('signed-out');
        }
        return res.json().then(function (body) { return {ok: res.ok, body: body}; });
      })
      .then(function (answer) {
        if (!answer.ok) {
          // The activity was closed or cancelled, or is out of reach now: stop for good.
          stopped = true;
          digits.classList.add('is-stale');
          say(answer.body.detail || panel.getAttribute('data-text-stopped'));
          return;
        }
        failures = 0;
        say('');
        apply(answer.body);
        tick();
      })
      .catch(function (err) {
        failures += 1;
        digits.classList.add('is-stale');
        if (err && err.message === 'signed-out') {
          stopped = true;
          say(panel.getAttribute('data-text-signed-out'));
          return;
        }
        say(panel.getAttribute('data-text-retrying'));
        schedule(Math.min(30, Math.pow(2, failures)) * 1000);
      });
  }

  // A phone or laptop that slept has a stale code on screen: fetch a fresh one on waking.
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && !stopped) { refresh(); }
  });

  tick();
})();
