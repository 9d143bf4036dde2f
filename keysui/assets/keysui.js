// keysui: copy-to-clipboard and confirmations. Every flow works without it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    var input = document.getElementById(b.dataset.copy);
    var status = document.querySelector(".keysui-copied");
    if (!input || !navigator.clipboard) return;
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        if (status) status.textContent = "Copied to the clipboard.";
      });
    });
  });
  document.querySelectorAll("form").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      var chosen = f.querySelector("[data-confirm]:checked");
      if (chosen && !window.confirm(chosen.dataset.confirm)) e.preventDefault();
    });
  });
});
