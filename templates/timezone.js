// The sign-up form's time zone: the browser's own, when it names one the list
// offers. Without this script (or JavaScript) the site's zone stays selected.
(function () {
  "use strict";
  var select = document.getElementById("timezone");
  if (!select || !select.hasAttribute("data-browser-zone")) {
    return;
  }
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (zone === "Etc/UTC" || zone === "Etc/GMT" || zone === "GMT") {
    zone = "UTC";
  }
  for (var i = 0; i < select.options.length; i += 1) {
    if (select.options[i].value === zone) {
      select.selectedIndex = i;
      return;
    }
  }
})();
