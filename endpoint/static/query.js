/* The query page: YASGUI on our own endpoint, nothing fetched from other sites.
   Links of the form /query#query=<SPARQL> (from the pages and the examples) open the query in
   a new tab and run it. */
(function () {
  "use strict";
  var el = document.getElementById("yasgui");
  if (!el || typeof window.Yasgui === "undefined") return;
  var endpoint = new URL(el.getAttribute("data-endpoint") || "/sparql", window.location.href).href;
  var examples = [];
  try {
    examples = JSON.parse(document.getElementById("examples-data").textContent);
  } catch (e) { /* no examples */ }

  var DEFAULT_QUERY = [
    "PREFIX dcterms: <http://purl.org/dc/terms/>",
    "PREFIX gk: <" + new URL("/def/gongkai#", "https://gongkai.example.org").href + ">",
    "",
    "SELECT ?notice ?title ?issued WHERE {",
    "  ?notice a gk:Notice ; dcterms:title ?title .",
    "  OPTIONAL { ?notice dcterms:issued ?issued }",
    "}",
    "ORDER BY DESC(?issued)",
    "LIMIT 20",
    ""
  ].join("\n");
  if (examples.length) DEFAULT_QUERY = examples[0].query;

  // No look-ups on other sites: LOV class/property completion off, prefixes from the built-in list.
  Yasgui.Yasqe.defaults.autocompleters = ["prefixes", "variables"];
  Yasgui.Yasqe.defaults.prefixCcApi = "";
  Yasgui.Yasqe.defaults.value = DEFAULT_QUERY;

  var yasgui = new Yasgui(el, {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: false,
    endpointCatalogueOptions: { getData: function () { return [{ endpoint: endpoint }]; } },
    populateFromUrl: false,
    persistenceId: "gongkai-query",
    yasqe: { autocompleters: ["prefixes", "variables"], prefixCcApi: "", value: DEFAULT_QUERY },
    yasr: { prefixes: {} }
  });

  function openQuery(name, query) {
    var tab = yasgui.addTab(true, { name: name });
    tab.setEndpoint && tab.setEndpoint(endpoint);
    tab.setQuery(query);
    tab.query();
  }

  function fromHash() {
    var hash = window.location.hash.replace(/^#/, "");
    if (!hash) return;
    var params = new URLSearchParams(hash);
    var query = params.get("query");
    var slug = params.get("example");
    var name = params.get("name") || "Query";
    if (slug) {
      for (var i = 0; i < examples.length; i++) {
        if (examples[i].slug === slug) { query = examples[i].query; name = examples[i].title; }
      }
    } else if (query) {
      for (var j = 0; j < examples.length; j++) {
        if (examples[j].query === query) name = examples[j].title;
      }
    }
    if (!query) return;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    openQuery(name.length > 40 ? name.slice(0, 39) + "…" : name, query);
    el.scrollIntoView();
  }

  // IRIs we mint open their page on this server, whatever host the data's base names.
  var base = el.getAttribute("data-base") || "";
  function localPath(href) {
    if (!base || href.indexOf(base) !== 0) return null;
    var rest = href.slice(base.length);
    if (rest.indexOf("id/") === 0) return "/doc/" + rest.slice(3);
    if (rest.indexOf("def/gongkai") === 0) return "/" + rest;
    if (rest.indexOf("def/") === 0) return "/doc/" + rest;
    return null;
  }
  el.addEventListener("click", function (event) {
    var a = event.target.closest && event.target.closest("a[href]");
    if (!a || !el.contains(a)) return;
    var local = localPath(a.getAttribute("href"));
    if (!local) return;
    event.preventDefault();
    if (a.target === "_blank") window.open(local, "_blank", "noopener");
    else window.location.assign(local);
  }, true);

  window.addEventListener("hashchange", fromHash);
  fromHash();
  window.gongkaiYasgui = yasgui; // for tests and the curious
})();
