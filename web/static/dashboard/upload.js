// Upload with a progress bar: the file goes up by XHR (fetch reports no upload progress), with
// the CSRF token as a header; on success the browser goes to the new import's page.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var input = document.getElementById("file");
  var zone = document.getElementById("drop-zone");
  var bar = document.getElementById("upload-progress");
  var error = document.getElementById("upload-error");
  var fileName = document.getElementById("file-name");
  var token = document.querySelector('meta[name="csrf-token"]').content;

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
  }

  function showName() {
    fileName.textContent = input.files.length ? input.files[0].name : "";
  }

  input.addEventListener("change", showName);
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showName();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    if (!input.files.length) return showError("Choose a file to upload.");
    var button = form.querySelector('button[type="submit"]');
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      var body = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300 && body.url) {
        bar.value = 100;
        window.location.assign(body.url);
        return;
      }
      bar.value = 0;
      var problem = body.error || {};
      showError(problem.message || "The upload failed (HTTP " + xhr.status + ").");
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      bar.value = 0;
      showError("The upload did not reach the server.");
    });
    button.disabled = true;
    bar.value = 0;
    xhr.send(new FormData(form));
  });
})();
