/* Draw every <canvas data-chart="ID"> from the JSON in <script id="ID-data"> (json_script). */
(function () {
  "use strict";
  function money(v) {
    if (v === null || v === undefined) { return "—"; }
    return Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart") + "-data");
    if (!source || !window.Chart) { return; }
    var config = JSON.parse(source.textContent);
    var isMoney = config.yibao && config.yibao.money;
    delete config.yibao;
    config.options = config.options || {};
    config.options.plugins = config.options.plugins || {};
    config.options.plugins.tooltip = {
      callbacks: {
        label: function (ctx) {
          var v = ctx.parsed && typeof ctx.parsed === "object" ? ctx.parsed.y : ctx.parsed;
          return (ctx.dataset.label ? ctx.dataset.label + ": " : "") + (isMoney ? money(v) : v);
        }
      }
    };
    if (config.options.scales && config.options.scales.y) {
      config.options.scales.y.ticks = isMoney
        ? { callback: function (v) { return Number(v).toLocaleString("en-US"); } }
        : { precision: 0 };
    }
    canvas.yibaoChart = new window.Chart(canvas, config);
    canvas.setAttribute("data-drawn", "1");
  }
  function drawAll() {
    var canvases = document.querySelectorAll("canvas[data-chart]");
    for (var i = 0; i < canvases.length; i++) { if (!canvases[i].yibaoChart) { draw(canvases[i]); } }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", drawAll); } else { drawAll(); }
})();
