// authlink's API reference: Swagger UI on the document authlink serves at /openapi.json.
// A file of its own (not an inline script) so the page's CSP can be script-src 'self'.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No call to the online validator (validator.swagger.io): nothing leaves this origin.
    validatorUrl: null,
    tryItOutEnabled: false,
  });
});
