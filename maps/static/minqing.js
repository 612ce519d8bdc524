/* 民情地图 minqing-map: shared map code (offline base map, panel, place-name search, helpers).
 * Our own code, served from /assets/static/. It only ever requests app-relative URLs. */
(function () {
  "use strict";
  var mq = (window.minqing = window.minqing || {});
  mq.state = mq.state || { ready: false };

  /* ---------- helpers ---------- */
  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  mq.esc = function (s) {
    return s === null || s === undefined ? "" : String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  };
  mq.num = function (n, digits) {
    if (n === null || n === undefined || isNaN(n)) return "—";
    return Number(n).toLocaleString("zh-CN", { maximumFractionDigits: digits === undefined ? 0 : digits });
  };
  mq.pct = function (x) {
    return x === null || x === undefined || isNaN(x) ? "—" : (100 * x).toFixed(1) + "%";
  };
  mq.$ = function (id) { return document.getElementById(id); };
  /* Popup width: at most ``max`` px, and never wider than a phone screen allows with its margins. */
  mq.popupWidth = function (max) { return Math.max(200, Math.min(max, window.innerWidth - 90)); };
  mq.or = function (v, dflt) { return v === null || v === undefined || v === "" ? dflt : v; };

  /* fetch JSON from OUR app only; errors become Chinese messages (the API's own text when it has one). */
  mq.fetchJSON = function (url, options) {
    if (typeof url !== "string" || url.charAt(0) !== "/" || url.charAt(1) === "/") {
      return Promise.reject(new Error("只允许访问本站地址"));
    }
    return fetch(url, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options || {}))
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          if (!res.ok) {
            var e = body && (body.error || body);  // the API's {"error": {code, message, fix}}
            var msg = e && (e.message_zh || e.message || e.detail);
            if (msg && typeof msg !== "string") msg = null;  // FastAPI's validation list: English only
            var err = new Error(mq.zhMessage(msg, res.status));
            err.status = res.status;
            err.code = e && e.code;
            err.detail = msg || "";
            throw err;
          }
          return body;
        });
      }, function () { throw new Error("网络连接失败，请稍后重试"); });
  };
  /* The API writes "中文: English" messages; the maps show only the Chinese part (never English). */
  var CJK = /[\u3400-\u9fff]/;
  mq.zhMessage = function (msg, status) {
    var text = String(msg || "");
    var cut = text.search(/:\s|：\s?[A-Za-z]/);
    if (cut > 0) text = text.slice(0, cut);
    text = text.replace(/\s*[(（][^)）]*[A-Za-z]{2,}[^)）]*[)）]/g, "").replace(/\s*\b[A-Za-z][A-Za-z ,.'-]*$/, "").trim();
    return CJK.test(text) && !/[A-Za-z]{3,}/.test(text) ? text : mq.httpMessage(status);
  };
  mq.httpMessage = function (status) {
    if (status === 401) return "登录已过期，请重新登录";
    if (status === 403) return "当前账号无权查看该数据";
    if (status === 404) return "暂无该数据";
    if (status === 422) return "所选位置无法计算（超出辖区或远离道路）";
    return "服务暂时不可用（" + status + "），请稍后重试";
  };

  mq.status = function (el, text, kind) {
    if (!el) return;
    el.textContent = text || "";
    el.className = "mq-status" + (kind ? " mq-status-" + kind : "");
  };

  /* ---------- page chrome ---------- */
  /* The district in view, clear of the side panel on wide screens. A page may call it as soon as its map
   * exists (maps.page.DistrictView), before any layer: tiles and paths are then made once, for this view,
   * and the chrome's call below does not move the map. */
  mq.fitDistrict = function (map, b) {
    var side = mq.$("mq-panel");
    var wide = side && !window.matchMedia("(max-width: 760px)").matches;
    var left = wide ? side.offsetWidth + 24 : 10, size = map.getSize();
    var key = JSON.stringify([b, left, size.x, size.y]);
    if (map.mqFitted === key) return;  // this very view is set and unmoved: a no-op move still redraws labels
    // No animation: the first view is simply there (and a view set right after is not swallowed by it).
    map.fitBounds(b, { paddingTopLeft: [left, 10], paddingBottomRight: [10, 10], animate: false });
    map.mqFitted = key;
    map.once("movestart", function () { map.mqFitted = null; });
  };

  mq.chrome = function (map, data) {
    var b = data && data.district && data.district.bounds;
    if (b) mq.fitDistrict(map, b);
    L.control.scale({ position: "bottomright", imperial: false }).addTo(map);
    map.attributionControl.setPrefix('<a href="/" title="民情地图">民情地图</a> · Leaflet');
    var panel = mq.$("mq-panel"), toggle = mq.$("mq-panel-toggle");
    if (panel && toggle) {
      var small = window.matchMedia("(max-width: 760px)").matches;
      var setOpen = function (open) {
        panel.classList.toggle("mq-collapsed", !open);
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
        toggle.textContent = open ? (small ? "收起面板 ▼" : "收起面板") : (small ? "展开面板 ▲" : "展开面板");
        mq.padPopups(map);
        if (mq.onPanel) mq.onPanel(open);
      };
      setOpen(!small);
      toggle.addEventListener("click", function () { setOpen(panel.classList.contains("mq-collapsed")); });
      mq.openPanel = function () { setOpen(true); };
      mq.closePanel = function () { setOpen(false); };
      mq.panelOpen = function () { return !panel.classList.contains("mq-collapsed"); };
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
    }
    // Phones: the page links fold into a menu button (staff pages need them to move between maps).
    var menu = document.querySelector(".mq-menu-btn"), header = document.querySelector(".mq-header");
    if (menu && header) {
      menu.addEventListener("click", function (e) {
        e.stopPropagation();
        var open = !header.classList.contains("mq-menu-open");
        header.classList.toggle("mq-menu-open", open);
        menu.setAttribute("aria-expanded", open ? "true" : "false");
      });
      document.addEventListener("click", function (e) {
        if (!e.target.closest(".mq-nav")) { header.classList.remove("mq-menu-open"); menu.setAttribute("aria-expanded", "false"); }
      });
    }
    mq.padPopups(map);
    map.on("resize", function () { mq.padPopups(map); });
    // Whether the view is changing (tests and screenshots wait for the map to stand still).
    map.on("movestart zoomstart", function () { mq.state.moving = true; });
    map.on("moveend zoomend", function () { mq.state.moving = false; });
    map.on("baselayerchange", function (e) {
      map.getContainer().classList.toggle("mq-offline", e.layer === mq.state.offlineBase);
    });
  };

  /* The part of the map no panel covers, in map container pixels: {top, left, right, bottom}. */
  mq.visibleArea = function (map) {
    var size = map.getSize(), box = map.getContainer().getBoundingClientRect();
    var area = { top: 0, left: 0, right: size.x, bottom: size.y };
    var panel = mq.$("mq-panel");
    if (panel && panel.offsetParent !== null) {
      var p = panel.getBoundingClientRect();
      if (window.matchMedia("(max-width: 760px)").matches) area.bottom = Math.min(area.bottom, p.top - box.top);
      else area.left = Math.max(area.left, p.right - box.left);
    }
    return area;
  };

  /* Popups pan clear of the header, the side panel (wide screens) and the bottom sheet (phones). */
  mq.padPopups = function (map) {
    var header = document.querySelector(".mq-header");
    var area = mq.visibleArea(map), size = map.getSize(), box = map.getContainer().getBoundingClientRect();
    // Wide screens: a header's height of room at the top (popups grow upwards when their history
    // arrives) and clear of the expanded layer list on the right. Phones: the map starts below the
    // header; keep clear of the layer button (top right) and of the sheet.
    var phone = window.matchMedia("(max-width: 760px)").matches;
    var top = phone ? 60 : Math.max(header ? header.offsetHeight + 10 : 20, 20);
    var right = 30, layers = map.getContainer().querySelector(".leaflet-control-layers-expanded");
    if (layers && !phone) right = Math.max(right, box.right - layers.getBoundingClientRect().left + 12);
    L.Popup.prototype.options.autoPanPaddingTopLeft = L.point(area.left + 20, top);
    L.Popup.prototype.options.autoPanPaddingBottomRight = L.point(right, Math.max(20, size.y - area.bottom + 20));
  };

  /* Show ``latlng`` at ``zoom`` (at least), then run ``then`` once the map has stopped moving: a popup
   * opened mid-animation is placed and auto-panned against a view that is about to change. */
  mq.viewThen = function (map, latlng, zoom, then) {
    var target = Math.max(map.getZoom(), zoom);
    var here = map.latLngToContainerPoint(latlng), area = mq.visibleArea(map);
    var inside = here.x > area.left + 40 && here.x < area.right - 40 && here.y > 60 && here.y < area.bottom - 40;
    if (target === map.getZoom() && inside) { then(); return; }
    map.once("moveend", function () { then(); });
    // Centre it in the part of the map no panel covers.
    var size = map.getSize();
    var dx = (area.left + area.right - size.x) / 2, dy = (area.top + area.bottom - size.y) / 2;
    var centre = map.unproject(map.project(latlng, target).subtract([dx, dy]), target);
    map.setView(centre, target);
  };

  /* ---------- offline base map ---------- */
  var ROAD = {
    major: { color: "#f5c16c", casing: "#c99a4a", w: 7 },
    secondary: { color: "#fff3c9", casing: "#cdb98a", w: 5.5 },
    minor: { color: "#ffffff", casing: "#d6d0c4", w: 4, minZoom: 13 },
    service: { color: "#ffffff", casing: "#ddd8cd", w: 2.5, minZoom: 15 },
    path: { color: "#b9ad98", w: 1.2, dash: "3 3", minZoom: 15 }
  };
  var ROAD_ORDER = ["path", "service", "minor", "secondary", "major"];
  var BUILDINGS_ZOOM = 16;  // footprints only close in: a few hundred per view
  var AREA = {
    district: { color: "#6d5a8f", weight: 3, dashArray: null, opacity: 0.8 },
    town: { color: "#8a77ad", weight: 2, dashArray: "8 5", opacity: 0.8 },
    community: { color: "#a99bc4", weight: 1.2, dashArray: "4 4", opacity: 0.8, minZoom: 13 }
  };

  function width(base, z) {
    return Math.max(0.6, base * Math.pow(1.55, z - 15));
  }

  function label(lat, lon, text, cls, angle) {
    var turn = angle ? ' style="transform: translate(-50%, -50%) rotate(' + mq.esc(Number(angle)) + 'deg)"' : "";
    return L.marker([lat, lon], {
      icon: L.divIcon({ className: "mq-label " + cls, html: "<span" + turn + ">" + mq.esc(text) + "</span>", iconSize: null }),
      interactive: false, keyboard: false
    });
  }

  /* Labels never overlap: in priority order (towns, communities, water, streets) a label whose box
   * meets one already shown is hidden until the view changes. */
  function declutter(map, groups) {
    var box = map.getContainer().getBoundingClientRect(), placed = [];
    groups.forEach(function (g) {
      if (!map.hasLayer(g)) return;
      g.eachLayer(function (m) {
        var el = m.getElement && m.getElement();
        if (!el) return;
        el.classList.remove("mq-label-hidden");
        var r = (el.firstChild || el).getBoundingClientRect();
        if (r.right < box.left || r.left > box.right || r.bottom < box.top || r.top > box.bottom) return;
        var hit = placed.some(function (p) { return r.left < p.right + 2 && r.right + 2 > p.left && r.top < p.bottom + 1 && r.bottom + 1 > p.top; });
        if (hit) el.classList.add("mq-label-hidden");
        else placed.push(r);
      });
    });
  }

  /* Tile requests in flight (vector tiles of the base map and the pages' tiled layers): 0 once every
   * tile in view has been drawn (benchmarks and tests wait for it). */
  // leaflet.vectorgrid 1.3 stops a click on an interactive tile feature with L.DomEvent.fakeStop, which
  // Leaflet 1.8 removed: stop it from reaching the map (as a click on any Leaflet path does).
  if (window.L && L.DomEvent && !L.DomEvent.fakeStop) L.DomEvent.fakeStop = function (e) { L.DomEvent.stopPropagation(e); };
  var tracked = [], basemapPending = 0;  // base-map data requested by mq.basemap, not yet drawn
  Object.defineProperty(mq.state, "tilesPending", { enumerable: true, get: function () {
    return basemapPending + tracked.filter(function (l) { return l._map && l._loading; }).length;
  } });
  mq.trackTiles = function (layer) { tracked.push(layer); return layer; };
  /* A layer of our vector tiles (GET /tiles/{name}/{z}/{x}/{y}.mvt, drawn by leaflet.vectorgrid on canvas):
   * ``style(properties, zoom)`` returns the path style of a feature, or [] to leave it out. */
  mq.vectorTiles = function (url, name, style, options) {
    var styles = {};
    styles[name] = style;
    var layer = L.vectorGrid.protobuf(url, Object.assign({
      rendererFactory: L.canvas.tile, vectorTileLayerStyles: styles, interactive: false, maxNativeZoom: 18,
      fetchOptions: { credentials: "same-origin" }
    }, options || {}));
    // A tile that cannot be fetched (network down) is drawn empty rather than left loading for ever.
    var fetchTile = layer._getVectorTilePromise;
    layer._getVectorTilePromise = function (coords) {
      return fetchTile.call(this, coords).catch(function () { return { layers: {} }; });
    };
    return mq.trackTiles(layer);
  };
  /* A clustered point layer of our vector tiles (GET /tiles/{name}/…, ``layers.tiles.cluster_tile``: each
   * point in one tile only; low down one point per cluster with ``count``, its bounds and ``n_<group>``
   * counts), drawn as Leaflet markers. ``make(properties, latlng, z)`` returns the marker of a point or a
   * cluster (``z``: the tile's zoom), or null to leave it out; ``options.drawn()`` is called after a tile's markers went on the map.
   * Points that share a position are set around it, a few pixels apart, so each can be clicked. Tiles are
   * 512 px: the server's tile of zoom z is drawn at map zoom z + 1.
   * ``layer.refresh()`` makes the markers of the tiles in view again (e.g. after a filter changed). */
  var PointTiles = window.L && L.VectorGrid && L.VectorGrid.Protobuf.extend({
    initialize: function (url, options) {
      L.VectorGrid.Protobuf.prototype.initialize.call(this, url, options);
      this._mqGroup = L.layerGroup();
      this._mqTiles = {};  // tile key → {coords, features, markers}
      this.on("tileunload", function (e) { this._mqClear(this._tileCoordsToKey(e.coords), true); }, this);
    },
    onAdd: function (map) {
      L.VectorGrid.Protobuf.prototype.onAdd.call(this, map);
      this._mqGroup.addTo(map);
    },
    onRemove: function (map) {
      map.removeLayer(this._mqGroup);
      L.VectorGrid.Protobuf.prototype.onRemove.call(this, map);
    },
    createTile: function (coords, done) {
      var tile = document.createElement("div"), self = this, key = this._tileCoordsToKey(coords);
      // a 512 px tile at map zoom z is the server's tile of zoom z - 1 (a quarter of the requests)
      var shift = Math.round(Math.log2(this.getTileSize().x / 256));
      var ask = { x: coords.x, y: coords.y, z: coords.z - shift };
      this._getVectorTilePromise(ask).catch(function () { return { layers: {} }; }).then(function (vt) {
        var layer = vt.layers[self.options.mqLayer];
        self._mqClear(key, true);
        self._mqTiles[key] = { coords: coords, extent: layer ? layer.extent : 4096,
                               features: layer ? layer.features : [], markers: [] };
        if (self._map) self._mqDraw(key);
        done(null, tile);
      });
      return tile;
    },
    _mqClear: function (key, forget) {
      var t = this._mqTiles[key];
      if (!t) return;
      t.markers.forEach(function (m) { this._mqGroup.removeLayer(m); }, this);
      t.markers = [];
      if (forget) delete this._mqTiles[key];
    },
    _mqDraw: function (key) {
      var t = this._mqTiles[key], map = this._map, size = this.getTileSize().x, scale = size / t.extent;
      var origin = L.point(t.coords.x * size, t.coords.y * size), at = {};
      t.features.forEach(function (f) {
        var p = f.geometry[0][0], k = Math.round(p.x * scale) + "," + Math.round(p.y * scale);
        (at[k] = at[k] || []).push(f);
      });
      Object.keys(at).forEach(function (k) {
        var same = at[k];
        same.forEach(function (f, i) {
          var p = f.geometry[0][0], px = origin.add(L.point(p.x * scale, p.y * scale));
          if (same.length > 1) {  // one building, several services: around it, 16 px out
            var a = 2 * Math.PI * i / same.length;
            px = px.add(L.point(16 * Math.cos(a), 16 * Math.sin(a)));
          }
          var m = this.options.mqMake(f.properties, map.unproject(px, t.coords.z), t.coords.z);
          if (m) { t.markers.push(m); this._mqGroup.addLayer(m); }
        }, this);
      }, this);
      if (this.options.mqDrawn) this.options.mqDrawn();
    },
    refresh: function () {
      Object.keys(this._mqTiles).forEach(function (key) { this._mqClear(key, false); this._mqDraw(key); }, this);
    }
  });
  mq.pointTiles = function (url, name, make, options) {
    return mq.trackTiles(new PointTiles(url, Object.assign({
      interactive: false, fetchOptions: { credentials: "same-origin" }, vectorTileLayerStyles: {}, tileSize: 512,
      mqLayer: name, mqMake: make, mqDrawn: options && options.drawn
    }, options && options.tiles || {})));
  };
  mq.state.drawn = {};
  function counted(name, style) {
    mq.state.drawn[name] = 0;
    return function (p, z) {
      var out = style(p, z);
      if (!(out instanceof Array) || out.length) mq.state.drawn[name] += 1;
      return out;
    };
  }
  function pane(map, name, z) {
    var el = map.getPane(name) || map.createPane(name);
    el.style.zIndex = z;
    el.style.pointerEvents = "none";
    return name;
  }

  /* The base map with roads, area outlines and blocks from vector tiles (``data.tiles``): only the
   * labels, water and the sea are in the page. */
  // Footprint fills by kind: homes grey-beige, shops browner, public buildings (schools, clinics,
  // markets ...) a warm rose, open sports grounds and squares green.
  var BUILDING = {
    residential: { color: "#b3a797", weight: 0.7, fill: true, fillColor: "#d2c8bb", fillOpacity: 1 },
    commercial: { color: "#b9a58f", weight: 0.7, fill: true, fillColor: "#d6c6b4", fillOpacity: 1 },
    "public": { color: "#c09a8f", weight: 0.8, fill: true, fillColor: "#e8c9bf", fillOpacity: 1 },
    grounds: { color: "#9cc59a", weight: 0.8, fill: true, fillColor: "#c9e4c0", fillOpacity: 1 }
  };
  mq.BUILDING = BUILDING;  // the legend's swatches show these fills (checked by the tests)
  function tiledBasemap(map, group, data) {
    var under = pane(map, "mq-base-under", 250);
    var renderer = L.canvas({ padding: 0.4, tolerance: 3, pane: under });
    var roadClass = data.road_class || {};
    var water = L.geoJSON(data.water, {
      renderer: renderer, interactive: false,
      filter: function (f) { return f.geometry.type !== "Point"; },
      style: function () { return { stroke: true, color: "#8fc3e8", weight: 1, fillColor: "#aad3f0", fillOpacity: 1 }; }
    });
    var sea = L.geoJSON(data.sea || { type: "FeatureCollection", features: [] }, {
      renderer: renderer, interactive: false,
      style: function (f) {
        return f.properties.b === "coast" ? { color: "#7fb2d9", weight: 1.4, fill: false }
          : { stroke: false, fillColor: "#aad3f0", fillOpacity: f.properties.o };
      }
    });
    var blocks = mq.vectorTiles(data.tiles.blocks, "blocks", counted("blocks", function (p, z) {
      if (z < 14) return [];
      return p.category === "park" ? { color: "#b8dba8", weight: 0.8, fill: true, fillColor: "#d4ebc8", fillOpacity: 1 }
        : { color: "#d6cfc2", weight: 0.8, fill: true, fillColor: "#e7e2d9", fillOpacity: 1 };
    }), { pane: pane(map, "mq-base-blocks", 255), minZoom: 14 });  // drawn from 14 on: no tiles made below
    // Building footprints close in (the tiles hold them from BUILDINGS_ZOOM on).
    var buildings = data.tiles.buildings ? mq.vectorTiles(data.tiles.buildings, "buildings", counted("buildings", function (p, z) {
      if (z < BUILDINGS_ZOOM) return [];
      return BUILDING[p.kind] || BUILDING.residential;
    }), { pane: pane(map, "mq-base-buildings", 257), minZoom: BUILDINGS_ZOOM }) : null;
    // One tile layer, each road drawn as its casing then its fill (one request per tile, not two).
    var roads = mq.vectorTiles(data.tiles.roads, "roads", counted("roads", function (p, z) {
      var spec = ROAD[roadClass[p.highway] || "path"];
      if (spec.minZoom && z < spec.minZoom) return [];
      var w = width(spec.w, z);
      var fill = { color: spec.color, weight: spec.casing ? w : Math.max(1, w / 2), dashArray: spec.dash || null,
                   lineCap: "round", lineJoin: "round" };
      return spec.casing ? [{ color: spec.casing, weight: w + 2, lineCap: "round", lineJoin: "round" }, fill] : [fill];
    }), { pane: pane(map, "mq-base-roads", 260) });
    var areas = mq.vectorTiles(data.tiles.areas, "areas", counted("areas", function (p, z) {
      var s = AREA[p.level];
      if (!s || (s.minZoom && z < s.minZoom)) return [];
      return { color: s.color, weight: s.weight, dashArray: s.dashArray, opacity: s.opacity, fill: false };
    }), { pane: pane(map, "mq-base-areas", 270) });
    [sea, water, blocks, buildings, roads, areas].forEach(function (l) { if (l) group.addLayer(l); });

    var labels = { town: L.layerGroup(), community: L.layerGroup(), water: L.layerGroup(), road: L.layerGroup(),
                   street: L.layerGroup() };
    var base = { water: water, sea: sea, blocks: blocks, buildings: buildings, roads: roads, areas: areas, labels: labels,
                 tiled: true };
    addLabels(base, data);
    return base;
  }
  /* The labels of ``data`` (areas, water, roads) into a tiled base map's label groups. */
  function addLabels(base, data) {
    var labels = base.labels;
    (data.area_labels || []).forEach(function (a) { labels[a[3]].addLayer(label(a[0], a[1], a[2], "mq-label-" + a[3])); });
    ((data.water || {}).features || []).forEach(function (f) {
      if (!f.properties.n || !f.properties.p) return;
      labels.water.addLayer(label(f.properties.p[0], f.properties.p[1], f.properties.n, "mq-label-water"));
    });
    (data.road_labels || []).forEach(function (r) {
      labels[r[3] === "minor" ? "street" : "road"].addLayer(label(r[0], r[1], r[2], "mq-label-road mq-label-" + r[3], r[4]));
    });
  }

  /* The offline base map in ``group``. A page carries only its tile URLs and ``url``: the labels, water and
   * sea come from there (GET /basemap.json?v=…, kept by the browser), counted in ``tilesPending`` meanwhile. */
  mq.basemap = function (map, group, data) {
    if (data.url && data.tiles) {  // the tiles start at once; water, sea and labels once they arrive
      var empty = { type: "FeatureCollection", features: [] };
      var base = tiledBasemap(map, group, Object.assign({}, data, { water: empty, sea: empty }));
      labelled(map, group, base);
      basemapPending++;
      mq.fetchJSON(data.url).then(function (rest) {
        base.water.addData(rest.water || empty);
        base.sea.addData(rest.sea || empty);
        addLabels(base, rest);
        base.tidy();  // no label over another
      }, function () { /* no labels, water or sea: the tiles still draw the streets and outlines */ })
        .then(function () { basemapPending--; });
      return group;
    }
    if (data.tiles) return labelled(map, group, tiledBasemap(map, group, data));
    var renderer = L.canvas({ padding: 0.4, tolerance: 3 });
    mq.state.offlineBase = group;
    mq.state.baseRenderer = renderer;
    map.getContainer().classList.add("mq-offline");

    var water = L.geoJSON(data.water, {
      renderer: renderer, interactive: false,
      filter: function (f) { return f.geometry.type !== "Point"; },  // the sea's label point
      style: function () { return { stroke: true, color: "#8fc3e8", weight: 1, fillColor: "#aad3f0", fillOpacity: 1 }; }
    });
    // The sea in bands along the coast, fading out (no hard edge where its data ends), and the coastline.
    var sea = L.geoJSON(data.sea || { type: "FeatureCollection", features: [] }, {
      renderer: renderer, interactive: false,
      style: function (f) {
        return f.properties.b === "coast" ? { color: "#7fb2d9", weight: 1.4, fill: false }
          : { stroke: false, fillColor: "#aad3f0", fillOpacity: f.properties.o };
      }
    });
    // Built-up blocks and parks where the registry has their polygons.
    var blocks = L.geoJSON(data.blocks || { type: "FeatureCollection", features: [] }, {
      renderer: renderer, interactive: false,
      style: function (f) {
        return f.properties.k === "park" ? { color: "#b8dba8", weight: 0.8, fillColor: "#d4ebc8", fillOpacity: 1 }
          : { color: "#d6cfc2", weight: 0.8, fillColor: "#e7e2d9", fillOpacity: 1 };
      }
    });
    var roadLayers = {};
    ROAD_ORDER.forEach(function (cls) {
      var feats = data.roads.features.filter(function (f) { return f.properties.c === cls; });
      var spec = ROAD[cls];
      var pair = {};
      if (spec.casing) {
        pair.casing = L.geoJSON({ type: "FeatureCollection", features: feats },
          { renderer: renderer, interactive: false, style: { color: spec.casing, lineCap: "round", lineJoin: "round" } });
      }
      pair.fill = L.geoJSON({ type: "FeatureCollection", features: feats },
        { renderer: renderer, interactive: false, style: { color: spec.color, dashArray: spec.dash || null, lineCap: "round", lineJoin: "round" } });
      roadLayers[cls] = pair;
    });
    // Casings of every class are drawn first, then fills: crossings look joined, not stacked.
    var areaLayers = {};
    ["community", "town", "district"].forEach(function (lvl) {
      var feats = data.areas.features.filter(function (f) { return f.properties.l === lvl; });
      areaLayers[lvl] = L.geoJSON({ type: "FeatureCollection", features: feats },
        { renderer: renderer, interactive: false, style: function () { var s = AREA[lvl]; return { color: s.color, weight: s.weight, dashArray: s.dashArray, opacity: s.opacity, fill: false }; } });
    });
    // Stamp ids in drawing order: a LayerGroup re-added to the map (after another base map was
    // picked) adds its layers in id order, so the ids must follow water < casings < fills < outlines.
    L.stamp(sea);
    L.stamp(blocks);
    L.stamp(water);
    ROAD_ORDER.forEach(function (cls) { if (roadLayers[cls].casing) L.stamp(roadLayers[cls].casing); });
    ROAD_ORDER.forEach(function (cls) { L.stamp(roadLayers[cls].fill); });
    ["community", "town", "district"].forEach(function (lvl) { L.stamp(areaLayers[lvl]); });

    var labels = { town: L.layerGroup(), community: L.layerGroup(), water: L.layerGroup(), road: L.layerGroup() };
    data.areas.features.forEach(function (f) {
      var p = f.properties;
      if (p.l === "town" || p.l === "community") labels[p.l].addLayer(label(p.p[0], p.p[1], p.n, "mq-label-" + p.l));
    });
    data.water.features.forEach(function (f) {
      if (!f.properties.n) return;
      var p = f.properties.p || [L.geoJSON(f).getBounds().getCenter().lat, L.geoJSON(f).getBounds().getCenter().lng];
      labels.water.addLayer(label(p[0], p[1], f.properties.n, "mq-label-water"));
    });
    labels.street = L.layerGroup();  // named side streets: only close in
    (data.road_labels || []).forEach(function (r) {
      labels[r[3] === "minor" ? "street" : "road"].addLayer(label(r[0], r[1], r[2], "mq-label-road mq-label-" + r[3], r[4]));
    });

    function toggle(layer, on) {
      if (on && !group.hasLayer(layer)) group.addLayer(layer);
      if (!on && group.hasLayer(layer)) group.removeLayer(layer);
    }
    // Canvas draws in the order layers were added: keep water < casings < fills < outlines.
    var shown = "";
    function restack(z) {
      var stack = [sea];
      if (z >= 14) stack.push(blocks);
      stack.push(water);
      ROAD_ORDER.forEach(function (cls) {
        if ((!ROAD[cls].minZoom || z >= ROAD[cls].minZoom) && roadLayers[cls].casing) stack.push(roadLayers[cls].casing);
      });
      ROAD_ORDER.forEach(function (cls) {
        if (!ROAD[cls].minZoom || z >= ROAD[cls].minZoom) stack.push(roadLayers[cls].fill);
      });
      if (z >= AREA.community.minZoom) stack.push(areaLayers.community);
      stack.push(areaLayers.town, areaLayers.district);
      var key = stack.map(function (l) { return L.stamp(l); }).join(",");
      if (key === shown) return;
      shown = key;
      [sea, blocks, water, areaLayers.community, areaLayers.town, areaLayers.district].forEach(function (l) { toggle(l, false); });
      ROAD_ORDER.forEach(function (cls) { toggle(roadLayers[cls].fill, false); if (roadLayers[cls].casing) toggle(roadLayers[cls].casing, false); });
      stack.forEach(function (l) { group.addLayer(l); });
    }
    labelsByZoom(map, group, labels, function (z) {
      restack(z);
      ROAD_ORDER.forEach(function (cls) {
        var spec = ROAD[cls], w = width(spec.w, z);
        roadLayers[cls].fill.setStyle({ weight: spec.casing ? w : Math.max(1, w / 2) });
        if (roadLayers[cls].casing) roadLayers[cls].casing.setStyle({ weight: w + 2 });
      });
    });
    mq.state.basemap = { water: water, sea: sea, blocks: blocks, roads: roadLayers, areas: areaLayers, labels: labels };
    return group;
  };

  /* Base-map labels in ``group`` shown by zoom and never overlapping; ``restyleAt(z)`` first
     restyles whatever else of the base map depends on the zoom. */
  function labelsByZoom(map, group, labels, restyleAt) {
    function toggle(layer, on) {
      if (on && !group.hasLayer(layer)) group.addLayer(layer);
      if (!on && group.hasLayer(layer)) group.removeLayer(layer);
    }
    function restyle() {
      var z = map.getZoom();
      if (restyleAt) restyleAt(z);
      toggle(labels.town, z < 14);
      toggle(labels.community, z >= 14);
      toggle(labels.water, z >= 13);
      toggle(labels.road, z >= 15);
      toggle(labels.street, z >= 16);
    }
    var order = [labels.town, labels.community, labels.water, labels.road, labels.street];
    function tidy() { if (map.hasLayer(group)) declutter(map, order); }
    map.on("zoomend", restyle);
    map.on("moveend", tidy);
    group.on("add", function () { setTimeout(tidy, 0); });
    restyle();
    setTimeout(tidy, 0);
    return tidy;
  }

  /* Labels of a tiled base map: shown by zoom, never overlapping (the tiles restyle themselves). */
  function labelled(map, group, base) {
    mq.state.offlineBase = group;
    map.getContainer().classList.add("mq-offline");
    base.tidy = labelsByZoom(map, group, base.labels);
    mq.state.basemap = base;
    return group;
  }

  /* ---------- search (GET /placenames/search; the public map: GET /search, facilities too) ---------- */
  /* How a hit reads: standard names plainly; a former name as "原名 → 现名"; names not (or no longer)
   * standard are marked, since only standard names may be used as such on a public map. */
  mq.hitStatus = function (r) {
    if (r.historical && r.current_name) return { cls: "former", tag: "原名", note: "“" + r.name + "”为原名，现名“" + r.current_name + "”。" };
    if (r.status === "historical") return { cls: "historical", tag: "历史地名", note: "“" + r.name + "”为历史地名，已不再使用。" };
    if (r.status === "irregular") return { cls: "irregular", tag: "非标准名称", note: "该名称未经标准化审批，不是标准地名，仅供查找位置。" };
    return { cls: "standard", tag: "", note: "" };
  };

  mq.search = function (map, options) {
    var input = mq.$("mq-search-input"), list = mq.$("mq-search-results");
    if (!input || !list) return;
    var categoryNames = (options && options.categories) || {};
    var timer = null, seq = 0, items = [], active = -1, marker = null;

    function hide() { list.hidden = true; active = -1; }
    function title(r) {
      if (r.kind === "facility") return "<b>" + mq.esc(r.name) + "</b>";
      var st = mq.hitStatus(r);
      if (st.cls === "former") {
        return '<span class="mq-search-former">原名 ' + mq.esc(r.name) + "</span> → <b>" + mq.esc(r.current_name) + "</b>";
      }
      return "<b>" + mq.esc(r.name) + "</b>" + (st.tag ? '<span class="mq-tag mq-tag-' + st.cls + '">' + st.tag + "</span>" : "");
    }
    function show(results, q) {
      // Standard current names first (the API's own order otherwise).
      items = results.map(function (r, i) { return { r: r, i: i }; }).sort(function (a, b) {
        return (mq.hitStatus(a.r).cls !== "standard") - (mq.hitStatus(b.r).cls !== "standard") || a.i - b.i;
      }).map(function (x) { return x.r; });
      if (!items.length) {
        list.innerHTML = '<li class="mq-search-empty">没有找到“' + mq.esc(q) + '”</li>';
      } else {
        list.innerHTML = items.map(function (r, i) {
          return '<li role="option" class="mq-hit-' + mq.hitStatus(r).cls + (r.kind === "facility" ? " mq-hit-facility" : "") +
            '" data-i="' + i + '">' + title(r) +
            '<span class="mq-search-py">' + mq.esc(r.kind === "facility" ? r.address || "" : r.historical ? "" : r.pinyin || "") + "</span>" +
            '<span class="mq-search-cat">' + mq.esc(r.kind === "facility" ? r.type_name || "" : categoryNames[r.category] || r.category || "") +
            "</span></li>";
        }).join("");
      }
      list.setAttribute("data-q", q);  // which query the list answers (tests wait for theirs)
      list.hidden = false;
    }
    function popupHtml(r) {
      var st = mq.hitStatus(r), name = st.cls === "former" ? r.current_name : r.name;
      return '<div class="mq-pop mq-pop-hit"><h3>' + mq.esc(name) + (st.tag && st.cls !== "former" ? ' <span class="mq-tag mq-tag-' + st.cls + '">' + st.tag + "</span>" : "") +
        "</h3>" + (st.cls === "former" || !r.pinyin ? "" : '<p class="mq-pop-py">' + mq.esc(r.pinyin) + "</p>") +
        "<p>" + mq.esc(categoryNames[r.category] || r.category || "") + "</p>" +
        (st.note ? '<p class="mq-pop-note">' + mq.esc(st.note) + "</p>" : "") +
        (options && options.placeExtra ? options.placeExtra(r) : "") + "</div>";
    }
    function choose(i) {
      var r = items[i];
      if (!r) return;
      clearTimeout(timer);
      seq++;  // a search still under way must not reopen the list over the chosen place
      hide();
      input.value = mq.hitStatus(r).cls === "former" ? r.current_name : r.name;
      if (marker) map.removeLayer(marker);
      marker = null;
      mq.state.searchMarker = null;
      if (typeof r.lat !== "number" || typeof r.lon !== "number") return;
      mq.state.searchChosen = r;
      // The page may show the place itself (the place-name map opens the name's own popup).
      var handled = options && options.onChoose && options.onChoose(r);
      if (handled) { mq.state.searchMarker = handled; return; }
      marker = L.marker([r.lat, r.lon], {
        icon: L.divIcon({ className: "mq-found", html: '<span class="mq-found-dot"></span>', iconSize: [22, 22] }),
        title: input.value
      }).addTo(map);
      marker.bindPopup(popupHtml(r));
      var found = marker;
      mq.viewThen(map, L.latLng(r.lat, r.lon), 16, function () {
        found.openPopup();
        mq.state.searchMarker = found;
      });
    }
    function run() {
      var q = input.value.trim();
      if (!q) { hide(); return; }
      var mine = ++seq;
      var url = options && options.url ? options.url(q) : "/placenames/search?q=" + encodeURIComponent(q) + "&limit=8";
      mq.fetchJSON(url).then(function (res) {
        if (mine !== seq) return;
        show(Array.isArray(res) ? res : (res && res.results) || [], q);
      }, function (err) {
        if (mine !== seq) return;
        list.innerHTML = '<li class="mq-search-empty">' + mq.esc(err.message) + "</li>";
        list.hidden = false;
      });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 220); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!items.length) return;
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        Array.prototype.forEach.call(list.children, function (li, i) { li.classList.toggle("mq-active", i === active); });
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (active >= 0) choose(active);
        else if (items.length && !list.hidden) choose(0);
        else { clearTimeout(timer); run(); }
      } else if (e.key === "Escape") { hide(); }
    });
    list.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-i]");
      if (li) choose(Number(li.getAttribute("data-i")));
    });
    document.addEventListener("click", function (e) { if (!e.target.closest(".mq-search")) hide(); });
  };

  /* Layer-control label with a coloured icon. */
  mq.iconHtml = function (color, glyph) {
    return '<span class="mq-icon" style="background:' + mq.esc(color) + '">' + mq.esc(glyph) + "</span>";
  };
})();
