/* 民情地图 minqing-map: starts Swagger UI on /docs (our own file: the page runs no inline script).
 * The OpenAPI URL comes from the page (data-openapi); nothing is fetched from another host. */
(function () {
  "use strict";
  var el = document.getElementById("swagger-ui");
  if (!el || !window.SwaggerUIBundle) return;
  window.ui = window.SwaggerUIBundle({
    url: el.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null  // the default badge loads an image from the Swagger validator's server
  });
})();
