#!/usr/bin/python3
"""Fake WooCommerce REST API (wc/v3 products) for catalogsync tests.

Routes under /wp-json/wc/v3/ and the plain-permalink form /?rest_route=/wc/v3/...:
products (list, create), products/{id} (get, update, delete/trash),
products/batch, products/categories. Strict after
/work/shared/reference/woocommerce-api.md. See README.md next to this file.
"""
import math
import os
import re
import sys
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakecore  # noqa: E402
from fakecore import FakeApp, Response, json_response  # noqa: E402
from woo_auth import Authenticator, _php_params  # noqa: E402
from woo_store import (Store, WooError, invalid_params, is_rest_bool, is_rest_int, rest_bool,  # noqa: E402
                       to_int, validate_batch_item, validate_single, wp_list, now_gmt)

ROUTES = (
    (re.compile(r"^/wc/v3/products/batch$", re.I), "batch", ("POST", "PUT", "PATCH")),
    (re.compile(r"^/wc/v3/products/categories$", re.I), "categories", ("GET", "POST")),
    (re.compile(r"^/wc/v3/products/categories/(\d+)$", re.I), "category", ("GET",)),
    (re.compile(r"^/wc/v3/products/(\d+)$", re.I), "item", ("GET", "POST", "PUT", "PATCH", "DELETE")),
    (re.compile(r"^/wc/v3/products$", re.I), "collection", ("GET", "POST")),
    (re.compile(r"^/wc/v3$", re.I), "namespace", ("GET",)),
    (re.compile(r"^/$"), "index", ("GET",)),
)
LIST_STATUS = ("any", "future", "trash", "draft", "pending", "private", "publish")
ORDERBY = ("date", "id", "include", "title", "slug", "modified", "menu_order")
CANNOT = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
    "batch": ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."),
}
NOT_FOUND_HTML = ("<!DOCTYPE html><html><head><title>Page not found</title></head>"
                  "<body><h1>Oops! That page can&rsquo;t be found.</h1></body></html>\n")
RATE_LIMIT_HTML = ("<html><head><title>429 Too Many Requests</title></head><body><center>"
                   "<h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>\n")


def require(key, what):
    if key is None:
        code, msg = CANNOT[what]
        raise WooError(code, msg, 401)


def int_list(v):
    if isinstance(v, str):
        v = [x for x in re.split(r"[,\s]+", v) if x]
    return v if isinstance(v, list) else [v]


class WooApp(FakeApp):
    name = "fake_woo"
    description = "Fake WooCommerce REST API (wc/v3 products, batch, categories)."
    epilog = "Control API under /_fake/ (no auth); see tests/fakes/README.md."
    redact_params = ("consumer_secret",)
    item_actions = ("item_error",)
    default_max_body = 8 * 1024 * 1024
    stat_keys = ("products_created", "products_updated", "products_trashed", "products_deleted",
                 "items_written", "image_uploads", "batch_calls", "batch_items")

    @classmethod
    def add_arguments(cls, p):
        p.add_argument("--key", default="ck_fake_read_write", help="read_write consumer key")
        p.add_argument("--secret", default="cs_fake_read_write", help="secret of --key")
        p.add_argument("--readonly-key", help="an extra consumer key with read permission only")
        p.add_argument("--readonly-secret", help="secret of --readonly-key")
        p.add_argument("--store-name", default="Fake Store", help="site name shown at /wp-json/")
        p.add_argument("--batch-limit", type=int, default=100, help="max items per batch call (default 100)")
        p.add_argument("--trash-supported", dest="trash", action="store_true", default=True,
                       help="DELETE without force moves to trash (default)")
        p.add_argument("--no-trash", dest="trash", action="store_false",
                       help="the store has EMPTY_TRASH_DAYS=0: DELETE without force answers 501")
        p.add_argument("--site-url", help="home URL used for OAuth signatures and links "
                                          "(default: scheme://<Host header>)")

    @classmethod
    def check_arguments(cls, parser, args):
        if bool(args.readonly_key) != bool(args.readonly_secret):
            parser.error("--readonly-key and --readonly-secret go together")
        if args.batch_limit < 1:
            parser.error("--batch-limit must be >= 1")

    def reset(self):
        keys = {self.args.key: {"secret": self.args.secret, "permissions": "read_write"}}
        if self.args.readonly_key:
            keys[self.args.readonly_key] = {"secret": self.args.readonly_secret, "permissions": "read"}
        self.auth = Authenticator(keys, self.args.site_url)
        self.store = Store()
        self.store.on_upload = lambda: self.count("image_uploads")
        self.batch_limit = self.args.batch_limit
        self.trash_supported = self.args.trash

    # ---- routing ------------------------------------------------------------
    def _route(self, req):
        if req.path == "/wp-json" or req.path.startswith("/wp-json/"):
            route, form = req.path[len("/wp-json"):], "pretty"
        elif req.path in ("/", "/index.php") and "rest_route" in req.query:
            route, form = req.q("rest_route"), "plain"
        else:
            return None, None
        return "/" + route.strip("/"), form

    def route_of(self, req):
        route, _ = self._route(req)
        if route is None:
            return "%s (not REST)" % req.method
        req.match_path = "/wp-json" + route   # fault path_re sees both URL forms alike
        short = re.sub(r"^/wc/v3/?", "", route)
        short = re.sub(r"/\d+$", "/{id}", short) or route
        return "%s %s" % (req.method, short)

    def _site(self, req):
        if self.args.site_url:
            return self.args.site_url.rstrip("/")
        return "%s://%s" % ("https" if req.tls else "http", req.headers.get("Host", "127.0.0.1"))

    def _url(self, req, form, route, query=None):
        site = self._site(req)
        if form == "plain":   # WordPress leaves the slashes of rest_route unencoded
            return "%s/?rest_route=%s%s" % (site, quote(route, safe="/"),
                                            "&" + urlencode(query) if query else "")
        return "%s/wp-json%s%s" % (site, route, "?" + urlencode(query) if query else "")

    def _pv(self, req, p):
        view = self.store.view(p, self._site(req))
        fields = req.q("_fields")
        if fields:
            keep = {f.strip().split(".")[0] for f in fields.split(",") if f.strip()}
            view = {k: v for k, v in view.items() if k in keep}
        return view

    def handle(self, req):
        try:
            return self._handle(req)
        except WooError as e:
            resp = json_response(e.status, e.body())
            for k, v in getattr(e, "headers", {}).items():
                resp.set_header(k, v)
            return resp

    def _handle(self, req):
        route, form = self._route(req)
        if route is None:
            return Response(404, NOT_FOUND_HTML, content_type="text/html; charset=UTF-8")
        req.record["auth"] = {"method": None, "key": None}
        try:
            # WC_REST_Authentication only looks at requests to the wc/ and wc- namespaces.
            key, method, ck = (self.auth.authenticate(req) if re.match(r"^/wc[/-]", route, re.I)
                               else (None, None, None))
            req.record["auth"] = {"method": method, "key": ck}
            if key is not None:
                Authenticator.check_permissions(key, req.method)
        except WooError as e:
            req.record["auth"]["error"] = e.message
            raise
        for regex, name, methods in ROUTES:
            m = regex.match(route)
            if m and (req.method in methods or (req.method == "HEAD" and "GET" in methods)):
                break
        else:
            raise WooError("rest_no_route", "No route was found matching the URL and request method.", 404)
        if req.json_error:
            raise WooError("rest_invalid_json", "Invalid JSON body passed.", 400,
                           json_error_code=4, json_error_message="Syntax error")
        params = _php_params((k, v) for k, vals in req.query.items() for v in vals)
        if isinstance(req.form, dict):
            params.update(req.form)
        if isinstance(req.json, dict):
            params.update(req.json)
        return getattr(self, "_r_" + name)(req, params, key, m, form)

    # ---- routes ---------------------------------------------------------------
    def _r_index(self, req, params, key, m, form):
        site = self._site(req)
        return json_response(200, {"name": self.args.store_name, "description": "", "url": site,
                                   "home": site, "gmt_offset": 0, "timezone_string": "UTC",
                                   "namespaces": ["wp/v2", "wc/v3"], "authentication": {}, "routes": {}})

    def _r_namespace(self, req, params, key, m, form):
        return json_response(200, {"namespace": "wc/v3", "routes": {
            r: {"namespace": "wc/v3"} for r in ("/wc/v3/products", "/wc/v3/products/batch",
                                                 "/wc/v3/products/(?P<id>[\\d]+)",
                                                 "/wc/v3/products/categories")}})

    def _item_fault(self, faults, sku, pid):
        for f in faults:
            if f["remaining"] <= 0:
                continue
            if ("sku" in f and sku is not None and str(sku) == f["sku"]) or \
               ("id" in f and pid is not None and pid == f["id"]):
                self.consume_fault(f)
                raise WooError(f.get("code", "fake_item_error"), f.get("message", "Item rejected by scripted fault"),
                               f.get("status", 400), **(f.get("data") or {}))

    def _create_one(self, req, item, faults, single):
        if single:
            validate_single(item)
        else:
            validate_batch_item(item)
        if item.get("id"):
            raise WooError("woocommerce_rest_product_exists", "Cannot create existing product.", 400)
        self._item_fault(faults, item.get("sku"), None)
        p = self.store.create(item)
        self.count("products_created")
        self.count("items_written")
        return p

    def _update_one(self, req, pid, item, faults):
        self._item_fault(faults, item.get("sku"), pid)
        p = self.store.update(pid, item)
        self.count("products_updated")
        self.count("items_written")
        return p

    def _r_collection(self, req, params, key, m, form):
        if req.method == "POST":
            validate_single(params)
            require(key, "create")
            p = self._create_one(req, params, self.item_faults(req), True)
            resp = json_response(201, self._pv(req, p))
            resp.set_header("Location", self._url(req, form, "/wc/v3/products/%d" % p["id"]))
            return resp
        problems = []
        per_page, page = params.get("per_page", 10), params.get("page", 1)
        if not is_rest_int(per_page):
            problems.append(("per_page", "rest_invalid_type", "per_page is not of type integer."))
        elif not 1 <= to_int(per_page) <= 100:
            problems.append(("per_page", "rest_out_of_bounds",
                             "per_page must be between 1 (inclusive) and 100 (inclusive)"))
        if not is_rest_int(page):
            problems.append(("page", "rest_invalid_type", "page is not of type integer."))
        elif to_int(page) < 1:
            problems.append(("page", "rest_out_of_bounds", "page must be greater than or equal to 1"))
        for name, enum in (("status", LIST_STATUS), ("orderby", ORDERBY), ("order", ("asc", "desc"))):
            if name in params and params[name] not in enum:
                problems.append((name, "rest_not_in_enum", "%s is not one of %s." % (name, wp_list(enum))))
        for name in ("include", "exclude"):
            if name in params and not all(is_rest_int(x) for x in int_list(params[name])):
                problems.append((name, "rest_invalid_type", "%s[0] is not of type integer." % name))
        for name in ("modified_after", "modified_before"):
            if name in params:
                try:
                    dt = datetime.fromisoformat(str(params[name]))
                    if dt.tzinfo is not None:
                        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
                    params[name] = dt.strftime("%Y-%m-%dT%H:%M:%S")
                except ValueError:
                    problems.append((name, "rest_invalid_date", "Invalid date."))
        if problems:
            raise invalid_params(problems)
        require(key, "list")
        per_page, page = to_int(per_page), to_int(page)
        status = params.get("status", "any")
        items = [p for p in self.store.products.values()
                 if (p["status"] not in ("trash", "auto-draft") if status == "any" else p["status"] == status)]
        if params.get("search_sku"):
            needle = str(params["search_sku"]).casefold()
            items = [p for p in items if needle in p["sku"].casefold()]
        elif params.get("sku"):
            raw = str(params["sku"])
            wanted = {s.strip().casefold() for s in raw.split(",")} | {raw.strip().casefold()}
            items = [p for p in items if p["sku"] and p["sku"].casefold() in wanted]
        if "include" in params:
            inc = [to_int(x) for x in int_list(params["include"])]
            items = [p for p in items if p["id"] in inc]
        if "exclude" in params:
            exc = [to_int(x) for x in int_list(params["exclude"])]
            items = [p for p in items if p["id"] not in exc]
        if params.get("search"):
            s = str(params["search"]).casefold()
            items = [p for p in items if s in p["name"].casefold() or s in p["description"].casefold()]
        if "modified_after" in params:
            items = [p for p in items if p["date_modified_gmt"] > params["modified_after"]]
        if "modified_before" in params:
            items = [p for p in items if p["date_modified_gmt"] < params["modified_before"]]
        orderby = params.get("orderby", "date")
        sort_key = {"date": lambda p: (p["date_created_gmt"], p["id"]), "id": lambda p: p["id"],
                    "title": lambda p: (p["name"].casefold(), p["id"]), "slug": lambda p: (p["slug"], p["id"]),
                    "modified": lambda p: (p["date_modified_gmt"], p["id"]),
                    "menu_order": lambda p: (p["menu_order"], p["id"]),
                    "include": lambda p: [to_int(x) for x in int_list(params.get("include", []))].index(p["id"])
                    if p["id"] in [to_int(x) for x in int_list(params.get("include", []))] else 0}[orderby]
        items.sort(key=sort_key, reverse=(params.get("order", "desc") == "desc"))
        total = len(items)
        pages = int(math.ceil(total / float(per_page))) if total else 0
        page_items = items[(page - 1) * per_page: page * per_page]
        resp = json_response(200, [self._pv(req, p) for p in page_items])
        resp.set_header("X-WP-Total", total)
        resp.set_header("X-WP-TotalPages", pages)
        route = "/wc/v3/products"
        base_q = {k: v[-1] for k, v in req.query.items() if k not in ("rest_route", "page", "consumer_secret")}
        links = []
        if page > 1:
            links.append('<%s>; rel="prev"' % self._url(req, form, route, dict(base_q, page=page - 1)))
        if page < pages:
            links.append('<%s>; rel="next"' % self._url(req, form, route, dict(base_q, page=page + 1)))
        if links:
            resp.set_header("Link", ", ".join(links))
        return resp

    def _r_item(self, req, params, key, m, form):
        pid = int(m.group(1))
        faults = self.item_faults(req)
        if req.method in ("GET", "HEAD"):
            require(key, "view")
            p = self.store.products.get(pid)
            if p is None:
                raise WooError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            return json_response(200, self._pv(req, p))
        if req.method == "DELETE":
            force = params.get("force", False)
            if not is_rest_bool(force):
                raise invalid_params([("force", "rest_invalid_type", "force is not of type boolean.")])
            require(key, "delete")
            p = self.store.products.get(pid)
            if p is None:
                raise WooError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            self._item_fault(faults, None, pid)
            before = self._pv(req, p)
            if rest_bool(force):
                del self.store.products[pid]
                self.count("products_deleted")
                return json_response(200, before)
            if not self.trash_supported:
                raise WooError("woocommerce_rest_trash_not_supported", "The product does not support trashing.", 501)
            if p["status"] == "trash":
                raise WooError("woocommerce_rest_already_trashed", "The product has already been deleted.", 410)
            p["status"] = "trash"
            p["date_modified_gmt"] = now_gmt()
            self.count("products_trashed")
            return json_response(200, before)
        validate_single(params)
        require(key, "edit")
        p = self._update_one(req, pid, params, faults)
        return json_response(200, self._pv(req, p))

    def _r_batch(self, req, params, key, m, form):
        problems = []
        for k in ("create", "update", "delete"):
            if k in params and not isinstance(params[k], list):
                problems.append((k, "rest_invalid_type", "%s is not of type array." % k))
            elif k in ("create", "update"):
                for i, item in enumerate(params.get(k, [])):
                    if not isinstance(item, dict):
                        problems.append((k, "rest_invalid_type", "%s[%d] is not of type object." % (k, i)))
        if problems:
            raise invalid_params(problems)
        require(key, "batch")
        creates, updates, deletes = (params.get(k) or [] for k in ("create", "update", "delete"))
        total = len(creates) + len(updates) + len(deletes)
        if total > self.batch_limit:
            raise WooError("woocommerce_rest_request_entity_too_large",
                           "Unable to accept more than %d items for this request." % self.batch_limit, 413)
        self.count("batch_calls")
        self.count("batch_items", total)
        faults = self.item_faults(req)
        out = {}
        if creates:
            out["create"] = []
            for item in creates:
                try:
                    out["create"].append(self._pv(req, self._create_one(req, item, faults, False)))
                except WooError as e:
                    out["create"].append({"id": 0, "error": e.body()})
        if updates:
            out["update"] = []
            for item in updates:
                try:
                    validate_batch_item(item)
                    p = self._update_one(req, to_int(item.get("id", 0)), item, faults)
                    out["update"].append(self._pv(req, p))
                except WooError as e:
                    out["update"].append({"id": item.get("id", 0), "error": e.body()})
        if deletes:
            out["delete"] = []
            for raw in deletes:
                pid = to_int(raw) if not isinstance(raw, (dict, list, bool)) else 0
                if pid == 0:
                    continue   # ids that cast to 0 are skipped silently
                try:
                    self._item_fault(faults, None, pid)
                    p = self.store.products.get(pid)
                    if p is None:
                        raise WooError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
                    out["delete"].append(self._pv(req, p))
                    del self.store.products[pid]    # batch deletes are always force=true
                    self.count("products_deleted")
                except WooError as e:
                    out["delete"].append({"id": pid, "error": e.body()})
        return json_response(200, out)

    def _cat_view(self, c):
        count = sum(1 for p in self.store.products.values() if c["id"] in p["categories"])
        return {"id": c["id"], "name": c["name"], "slug": c["slug"], "parent": c.get("parent", 0),
                "description": "", "display": "default", "image": None, "menu_order": 0, "count": count}

    def _r_categories(self, req, params, key, m, form):
        if req.method == "POST":
            if not isinstance(params.get("name"), str) or not params["name"].strip():
                raise WooError("rest_missing_callback_param", "Missing parameter(s): name", 400, params=["name"])
            require(key, "create")
            parent = to_int(params.get("parent", 0))
            for c in self.store.categories.values():
                if c["name"].casefold() == params["name"].strip().casefold() and c.get("parent", 0) == parent:
                    raise WooError("term_exists", "A term with the name provided already exists with this parent.",
                                   400, resource_id=c["id"])
            cid = self.store.new_term_id()
            c = self.store.categories[cid] = {"id": cid, "name": params["name"].strip(), "parent": parent,
                                              "slug": params.get("slug") or re.sub(r"[^a-z0-9]+", "-",
                                                                                    params["name"].lower()).strip("-")}
            return json_response(201, self._cat_view(c))
        require(key, "list")
        cats = list(self.store.categories.values())
        if params.get("search"):
            cats = [c for c in cats if str(params["search"]).casefold() in c["name"].casefold()]
        if params.get("slug"):
            cats = [c for c in cats if c["slug"] in str(params["slug"]).split(",")]
        per_page, page = to_int(params.get("per_page", 10)), max(1, to_int(params.get("page", 1)))
        if not 1 <= per_page <= 100:
            raise invalid_params([("per_page", "rest_out_of_bounds",
                                   "per_page must be between 1 (inclusive) and 100 (inclusive)")])
        resp = json_response(200, [self._cat_view(c) for c in cats[(page - 1) * per_page: page * per_page]])
        resp.set_header("X-WP-Total", len(cats))
        resp.set_header("X-WP-TotalPages", int(math.ceil(len(cats) / float(per_page))))
        return resp

    def _r_category(self, req, params, key, m, form):
        require(key, "view")
        c = self.store.categories.get(int(m.group(1)))
        if c is None:
            raise WooError("woocommerce_rest_term_invalid", "Resource does not exist.", 404)
        return json_response(200, self._cat_view(c))

    # ---- faults, headers ----------------------------------------------------------
    def validate_fault(self, f):
        if f["action"] == "item_error" and "sku" not in f and "id" not in f:
            return "item_error needs sku or id"
        return None

    def fault_response(self, req, fault):
        action = fault["action"]
        if action == "rate_limit":
            body = fault.get("body", RATE_LIMIT_HTML)
            resp = (json_response(429, body) if isinstance(body, (dict, list))
                    else Response(429, body, content_type="text/html; charset=UTF-8"))
            resp.set_header("Retry-After", str(int(fault.get("retry_after", 1))))
            for k, v in (fault.get("headers") or {}).items():
                resp.set_header(k, v)
            return resp
        if action == "error":
            e = WooError(fault.get("code", "internal_server_error"),
                         fault.get("message", "There has been a critical error on this website."),
                         fault.get("status", 500), **(fault.get("data") or {}))
            return json_response(e.status, e.body())
        return fakecore.http_status_fault_response(fault)

    def decorate(self, req, resp):
        if (resp.get_header("Content-Type") or "").startswith("application/json"):
            resp.set_header("X-Robots-Tag", "noindex")
            resp.set_header("X-Content-Type-Options", "nosniff")
            resp.set_header("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link")

    # ---- control ------------------------------------------------------------
    def state(self):
        site = self.args.site_url or "http://127.0.0.1:%d" % getattr(self, "port", 0)
        return {"products": {str(pid): self.store.view(p, site) for pid, p in self.store.products.items()},
                "attachments": self.store.attachments,
                "categories": self.store.categories, "tags": self.store.tags,
                "attributes": self.store.global_attributes, "orphan_skus": sorted(self.store.orphan_skus),
                "config": {"batch_limit": self.batch_limit, "trash_supported": self.trash_supported,
                           "image_fail_re": self.store.image_fail_re}}

    def control(self, req, name):
        if req.method != "POST":
            return None
        body = req.control_json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        st = self.store
        if name == "config":
            self.batch_limit = int(body.get("batch_limit", self.batch_limit))
            self.trash_supported = bool(body.get("trash_supported", self.trash_supported))
            st.image_fail_re = body.get("image_fail_re", st.image_fail_re)
            st.image_fail_message = body.get("image_fail_message", st.image_fail_message)
            return json_response(200, self.state()["config"])
        if name == "seed":
            out = {"products": [], "attachments": [], "categories": [], "attributes": []}
            for c in body.get("categories", []):
                cid = st.new_term_id()
                st.categories[cid] = {"id": cid, "name": c["name"], "parent": c.get("parent", 0),
                                      "slug": c.get("slug") or re.sub(r"[^a-z0-9]+", "-", c["name"].lower()).strip("-")}
                out["categories"].append(cid)
            for a in body.get("attributes", []):
                aid = len(st.global_attributes) + 1
                st.global_attributes[aid] = {"id": aid, "name": a["name"],
                                             "slug": "pa_" + re.sub(r"[^a-z0-9]+", "-", a["name"].lower())}
                out["attributes"].append(aid)
            for a in body.get("attachments", []):
                out["attachments"].append(st.upload(a, counted=False))
            st.orphan_skus.update(body.get("orphan_skus", []))
            for pbody in body.get("products", []):
                pbody = dict(pbody)
                sku = pbody.pop("sku", None) if body.get("allow_duplicate_sku") else None
                try:
                    p = st.create(pbody)
                except WooError as e:
                    raise ValueError("seed product refused: %s %s" % (e.code, e.message))
                if sku is not None:
                    p["sku"] = sku
                out["products"].append(p["id"])
            return json_response(200, out)
        return None


if __name__ == "__main__":
    sys.exit(fakecore.main(WooApp))
