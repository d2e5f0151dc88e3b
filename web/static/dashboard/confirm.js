// Forms marked data-confirm ask before they submit (a merge decision is not undone by a click).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
