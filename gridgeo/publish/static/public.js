// gridgeo public grid page: draws the community's grids from data-src (GeoJSON with the
// posted contacts only) on Leaflet, with an optional basemap from data-config.
// Registry texts are put into the page with textContent, never as HTML.
(function () {
  "use strict";
  var FILLS = ["#fde2c8", "#d6ecd2", "#d5e3f5", "#f6d6e4", "#fff3b0", "#e2d9f3"];
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }

  function node(tag, text, cls) {
    var n = document.createElement(tag);
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    if (cls) { n.className = cls; }
    return n;
  }

  function popup(p) {
    var box = node("div", null, "grid-popup");
    box.appendChild(node("strong", p.grid_name));
    box.appendChild(node("div", p.grid_code, "code"));
    box.appendChild(node("div", p.extent));
    box.appendChild(node("div", p.area));
    var ul = node("ul", null, "people");
    (p.contacts || []).forEach(function (c) {
      var li = node("li", c.role + "：" + c.name + " ");
      if (c.phone) {
        var a = node("a", c.phone);
        a.href = "tel:" + c.phone;
        li.appendChild(a);
      }
      ul.appendChild(li);
    });
    box.appendChild(ul);
    return box;
  }

  function label(p) {
    var d = node("div");
    d.appendChild(node("span", p.grid_name));
    d.appendChild(node("span", p.short_code, "code"));
    return d;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  Promise.all([getJSON(el.dataset.config), getJSON(el.dataset.src)]).then(function (res) {
    var config = res[0], data = res[1];
    var map = L.map(el, { attributionControl: !!config.tiles });
    if (config.tiles) {
      L.tileLayer(config.tiles, { subdomains: "01234567", maxZoom: 18,
        attribution: config.attribution || "" }).addTo(map);
    }
    var i = 0;
    var layer = L.geoJSON(data, {
      style: function () {
        var fill = FILLS[i++ % FILLS.length];
        return { color: "#444", weight: 1.2, fillColor: fill, fillOpacity: config.tiles ? 0.35 : 0.8 };
      },
      onEachFeature: function (f, lyr) {
        lyr.bindPopup(popup(f.properties));
        lyr.bindTooltip(label(f.properties), { permanent: true, direction: "center",
          className: "grid-label" });
        lyr.on("click", function () {
          document.querySelectorAll("tr.active").forEach(function (r) { r.classList.remove("active"); });
          var row = document.querySelector('tr[data-grid="' + CSS.escape(f.properties.grid_code) + '"]');
          if (row) { row.classList.add("active"); }
        });
      }
    }).addTo(map);
    map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    el.dataset.ready = String(data.features.length);
  }).catch(function (err) {
    el.dataset.error = String(err);
    el.appendChild(node("p", "地图数据无法加载：" + err));
  });
}());
