/* Member import: show the upload's progress in the form's <progress> element.
   Without this script (or without XMLHttpRequest/FormData) the form posts as usual.
   The server answers a request carrying X-Upload-Progress with {"location": ...}. */
(function () {
  'use strict';
  var form = document.querySelector('form[data-import-upload]');
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }

  var status = form.querySelector('[data-upload-status]');
  var bar = form.querySelector('[data-upload-progress]');
  var note = form.querySelector('[data-upload-note]');
  var button = form.querySelector('button[type="submit"]');
  var maxBytes = parseInt(form.getAttribute('data-max-bytes'), 10) || 0;

  function say(text) {
    if (status) { status.hidden = false; }
    if (note) { note.textContent = text || ''; }
  }

  function finish(text) {
    if (button) { button.disabled = false; }
    if (bar) { bar.value = 0; }
    say(text);
  }

  form.addEventListener('submit', function (event) {
    var input = form.querySelector('input[type="file"]');
    var file = input && input.files && input.files[0];
    if (!file) { return; }  // the server tells what is missing
    event.preventDefault();
    if (maxBytes && file.size > maxBytes) {
      finish(form.getAttribute('data-too-large'));
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('X-Upload-Progress', '1');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable && bar) {
        bar.max = e.total;
        bar.value = e.loaded;
      }
    });
    xhr.upload.addEventListener('load', function () {
      if (bar) { bar.removeAttribute('value'); }  // indeterminate while the rows are checked
      say(form.getAttribute('data-checking'));
    });
    xhr.addEventListener('load', function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
      if (xhr.status === 200 && answer && answer.location) {
        window.location.assign(answer.location);
        return;
      }
      finish(form.getAttribute(xhr.status === 413 ? 'data-too-large' : 'data-failed'));
    });
    xhr.addEventListener('error', function () { finish(form.getAttribute('data-failed')); });
    if (button) { button.disabled = true; }
    if (bar) { bar.value = 0; }
    say('');
    xhr.send(new FormData(form));
  });
}());
