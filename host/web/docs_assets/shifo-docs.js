// Starts Swagger UI on the page's OpenAPI document. A file of its own, not an inline script, so
// the page's Content-Security-Policy can refuse every inline script (host/web/docs_ui.py).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    validatorUrl: null, // the default asks a public validator for a badge: nothing leaves this host
    persistAuthorization: false // a pasted bearer token is forgotten with the tab
  });
})();
