// The dashboard's only script besides plotly.js: sorting tables by a header click and filtering
// the contracts by counterparty. A few lines of plain DOM code, so no JS library is needed.
(function () {
  "use strict";

  function sortTable(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.dataset.kind !== "text" && th.dataset.kind !== "link" && th.dataset.kind !== "date";
    var descending = th.getAttribute("aria-sort") !== "descending";
    table.querySelectorAll("th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.value, y = b.cells[index].dataset.value;
      // Missing values go last whichever the direction.
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th) {
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortTable(table, th); }
      });
    });
  });

  // A <select data-filter-table="id" data-filter-chart="id" data-filter-attr="counterparty">:
  // hides the table rows and chart bars of other values.
  document.querySelectorAll("select[data-filter-table]").forEach(function (select) {
    var table = document.getElementById(select.dataset.filterTable);
    var chart = document.getElementById(select.dataset.filterChart);
    var attr = select.dataset.filterAttr;
    var original = null;
    select.addEventListener("change", function () {
      var wanted = select.value;
      table.querySelectorAll("tbody tr").forEach(function (row) {
        row.hidden = wanted !== "" && row.dataset[attr] !== wanted;
      });
      if (!chart || !window.Plotly || !chart.data) { return; }
      if (original === null) {
        original = chart.data.map(function (trace) {
          return { x: trace.x.slice(), y: trace.y.slice(), customdata: trace.customdata.slice(), text: (trace.text || []).slice() };
        });
      }
      var update = { x: [], y: [], customdata: [], text: [] };
      original.forEach(function (trace) {
        var keep = trace.customdata.map(function (data) { return wanted === "" || data[0] === wanted; });
        ["x", "y", "customdata", "text"].forEach(function (key) {
          update[key].push(trace[key].filter(function (_, i) { return keep[i]; }));
        });
      });
      window.Plotly.restyle(chart, update);
    });
  });
})();
