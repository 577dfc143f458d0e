"""Product store of the fake WooCommerce: schema checks, product writes, views.

The facts: the WooCommerce product schema and its writes (README.md). Called by
fake_woo.py with the app lock held; raises WooError for WP REST errors.
Products and attachments share one post-id counter, as in WordPress. SKU
comparisons are case-insensitive, like MySQL's default collation.
"""
import re
import time
from urllib.parse import urlsplit

STATUS_ENUM = ("draft", "pending", "private", "publish", "future", "auto-draft", "trash")
TYPE_ENUM = ("simple", "grouped", "external", "variable")
STOCK_STATUS_ENUM = ("instock", "outofstock", "onbackorder")
BACKORDERS_ENUM = ("no", "notify", "yes")
TAX_STATUS_ENUM = ("taxable", "shipping", "none")
CATALOG_VISIBILITY = ("visible", "catalog", "search", "hidden")
IMAGE_EXTENSIONS = ("jpg", "jpeg", "jpe", "gif", "png", "bmp", "tiff", "tif", "ico", "webp")
DECIMAL_RE = re.compile(r"^\d+(\.\d+)?$")

_OBJ = lambda props: ("object", props)  # noqa: E731
_ARR = lambda items: ("array", items)   # noqa: E731
PRODUCT_SCHEMA = {
    "name": "string", "slug": "string", "type": ("enum", TYPE_ENUM), "status": ("enum", STATUS_ENUM),
    "featured": "boolean", "catalog_visibility": "string", "description": "string",
    "short_description": "string", "sku": "string", "global_unique_id": "string",
    "regular_price": "string", "sale_price": "string", "tax_status": ("enum", TAX_STATUS_ENUM),
    "tax_class": "string", "manage_stock": "boolean", "stock_quantity": "integer",
    "stock_status": ("enum", STOCK_STATUS_ENUM), "backorders": ("enum", BACKORDERS_ENUM),
    "weight": "string", "menu_order": "integer", "parent_id": "integer", "virtual": "boolean",
    "downloadable": "boolean", "reviews_allowed": "boolean", "purchase_note": "string",
    "external_url": "string", "button_text": "string",
    "dimensions": _OBJ({"length": "string", "width": "string", "height": "string"}),
    "categories": _ARR(_OBJ({"id": "integer", "name": "string", "slug": "string"})),
    "tags": _ARR(_OBJ({"id": "integer", "name": "string", "slug": "string"})),
    "images": _ARR(_OBJ({"id": "integer", "src": "string", "name": "string", "alt": "string"})),
    "attributes": _ARR(_OBJ({"id": "integer", "name": "string", "position": "integer",
                             "visible": "boolean", "variation": "boolean",
                             "options": _ARR("string")})),
    "meta_data": _ARR(_OBJ({"id": "integer", "key": "string", "value": "any"})),
    "upsell_ids": _ARR("integer"), "cross_sell_ids": _ARR("integer"),
}
SIMPLE_FIELDS = ("name", "description", "short_description", "tax_class", "weight",
                 "purchase_note", "external_url", "button_text", "global_unique_id")


class WooError(Exception):
    """A WP REST error: {"code","message","data":{"status",...}}."""

    def __init__(self, code, message, status, **data):
        super().__init__(message)
        self.code, self.message, self.status, self.data = code, message, int(status), data

    def body(self):
        data = {"status": self.status}
        data.update(self.data)
        return {"code": self.code, "message": self.message, "data": data}


def wp_list(items):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return "%s and %s" % tuple(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def is_rest_bool(v):
    return isinstance(v, bool) or v in (0, 1) or (isinstance(v, str) and v.lower() in ("true", "false", "0", "1"))


def rest_bool(v):
    return v is True or v == 1 or (isinstance(v, str) and v.lower() in ("true", "1", "yes"))


def is_rest_int(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return v.is_integer()
    return isinstance(v, str) and re.match(r"^-?\d+(\.0*)?$", v.strip() or "x") is not None


def to_int(v):
    """PHP-ish intval for ids and quantities: non-integers become 0."""
    return int(float(v)) if is_rest_int(v) else 0


def _check(value, schema, path, out):
    """WP rest_validate_value_from_schema, the parts products use. Appends
    (path, code, message) for the first problem found under `path`."""
    if schema == "any":
        return
    if isinstance(schema, tuple) and schema[0] == "enum":
        if not isinstance(value, str):
            out.append((path, "rest_invalid_type", "%s is not of type string." % path))
        elif value not in schema[1]:
            out.append((path, "rest_not_in_enum", "%s is not one of %s." % (path, wp_list(schema[1]))))
        return
    if isinstance(schema, tuple) and schema[0] == "array":
        if isinstance(value, str) and not isinstance(schema[1], tuple):
            value = [x.strip() for x in re.split(r"[,\s]+", value) if x.strip()]   # wp_parse_list
        if not isinstance(value, list):
            out.append((path, "rest_invalid_type", "%s is not of type array." % path))
            return
        for i, item in enumerate(value):
            _check(item, schema[1], "%s[%d]" % (path, i), out)
        return
    if isinstance(schema, tuple) and schema[0] == "object":
        if not isinstance(value, dict):
            out.append((path, "rest_invalid_type", "%s is not of type object." % path))
            return
        for k, sub in schema[1].items():
            if k in value:
                _check(value[k], sub, "%s[%s]" % (path, k), out)
        return
    ok = {"string": lambda v: isinstance(v, str), "boolean": is_rest_bool,
          "integer": is_rest_int}[schema](value)
    if not ok:
        out.append((path, "rest_invalid_type", "%s is not of type %s." % (path, schema)))


def invalid_params(problems):
    params, details = {}, {}
    for path, code, msg in problems:
        top = path.split("[", 1)[0]
        if top not in params:
            params[top] = msg
            details[top] = {"code": code, "message": msg, "data": {"param": path}}
    return WooError("rest_invalid_param", "Invalid parameter(s): %s" % ", ".join(params), 400,
                    params=params, details=details)


def check_prices(body, problems):
    for f in ("regular_price", "sale_price"):
        if f not in body:
            continue
        v = body[f]
        if not isinstance(v, str):
            problems.append((f, "rest_invalid_type", "%s is not of type string." % f))
        elif v != "" and not DECIMAL_RE.match(v):
            # Real WooCommerce runs wc_format_decimal() here; the fake refuses on purpose.
            problems.append((f, "rest_invalid_decimal", "%s is not a valid decimal string." % f))


def validate_single(body):
    """Route-argument validation of a single create/update (not batch items)."""
    problems = []
    for key, schema in PRODUCT_SCHEMA.items():
        if key in body and key not in ("regular_price", "sale_price"):
            _check(body[key], schema, key, problems)
    check_prices(body, problems)
    if problems:
        raise invalid_params(problems)


def validate_batch_item(body):
    """Real batch items skip the route's schema validation (reference §1, batch
    details). The fake is strict on purpose only for price types/decimals; the
    other fields get the setters' lenient coercions in apply()."""
    problems = []
    check_prices(body, problems)
    if problems:
        raise invalid_params(problems)


def now_gmt():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def sanitize_title(s):
    return re.sub(r"[^a-z0-9]+", "-", str(s).lower()).strip("-")


class Store:
    def __init__(self):
        self.products = {}
        self.attachments = {}
        self.categories = {15: {"id": 15, "name": "Uncategorized", "slug": "uncategorized", "parent": 0}}
        self.tags = {}
        self.global_attributes = {}
        self.orphan_skus = set()
        self.next_post = 10
        self.next_term = 16
        self.next_meta = 1000
        self.image_fail_re = None
        self.image_fail_message = "cURL error 28: Operation timed out after 300000 milliseconds"
        self.on_upload = None   # called for each counted upload (stats)
        self.manage_stock_option = True   # woocommerce_manage_stock = yes (WooCommerce's default)

    def new_post_id(self):
        self.next_post += 1
        return self.next_post

    def new_term_id(self):
        self.next_term += 1
        return self.next_term

    # ---- lookups -----------------------------------------------------------
    def sku_owner(self, sku, exclude_id=0, include_trash=False):
        key = sku.casefold()
        for p in self.products.values():
            if p["id"] != exclude_id and p["sku"] and p["sku"].casefold() == key:
                if include_trash or p["status"] != "trash":
                    return p["id"]
        return None

    def find_term(self, terms, name):
        for t in terms.values():
            if t["name"].casefold() == name.casefold():
                return t
        return None

    # ---- images ------------------------------------------------------------
    def upload(self, img, counted=True):
        src = img["src"]
        parts = urlsplit(src) if isinstance(src, str) else None
        if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
            raise WooError("woocommerce_product_image_upload_error",
                           "Error getting remote image URL. Error: A valid URL was not provided.", 400)
        filename = parts.path.rsplit("/", 1)[-1]
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if ext not in IMAGE_EXTENSIONS:
            raise WooError("woocommerce_product_image_upload_error",
                           "Invalid image: Sorry, you are not allowed to upload this file type.", 400)
        if self.image_fail_re and re.search(self.image_fail_re, src):
            raise WooError("woocommerce_product_image_upload_error",
                           "Error getting remote image URL. Error: %s" % self.image_fail_message, 400)
        aid = self.new_post_id()
        self.attachments[aid] = {"id": aid, "source_url": src, "file": filename,
                                 "name": img.get("name") or filename.rsplit(".", 1)[0],
                                 "alt": img.get("alt") or "", "date_created_gmt": now_gmt()}
        if counted and self.on_upload:
            self.on_upload()
        return aid

    def set_images(self, images, uploaded):
        ids = []
        for img in images:
            if not isinstance(img, dict):
                continue
            aid = to_int(img.get("id"))
            if aid == 0 and img.get("src"):
                aid = self.upload(img)
                uploaded.append(aid)
            if aid not in self.attachments:
                raise WooError("woocommerce_product_invalid_image_id", "#%d is an invalid image ID." % aid, 400)
            att = self.attachments[aid]
            if img.get("name"):
                att["name"] = img["name"]
            if img.get("alt"):
                att["alt"] = img["alt"]
            ids.append(aid)
        return ids

    # ---- writes --------------------------------------------------------------
    def new_product(self):
        return {"id": 0, "name": "", "slug": "", "type": "simple", "status": "publish", "featured": False,
                "catalog_visibility": "visible", "description": "", "short_description": "", "sku": "",
                "global_unique_id": "", "regular_price": "", "sale_price": "", "tax_status": "taxable",
                "tax_class": "", "manage_stock": False, "stock_quantity": None, "stock_status": "instock",
                "backorders": "no", "weight": "", "dimensions": {"length": "", "width": "", "height": ""},
                "menu_order": 0, "parent_id": 0, "categories": [], "tags": [], "images": [],
                "attributes": [], "meta_data": [], "upsell_ids": [], "cross_sell_ids": [],
                "purchase_note": "", "external_url": "", "button_text": "",
                "date_created_gmt": None, "date_modified_gmt": None}

    def apply(self, p, body):
        """Apply request fields to product dict `p` in WooCommerce's order
        (prepare_object_for_database). Returns the ids of attachments uploaded."""
        uploaded = []
        try:
            self._apply(p, body, uploaded)
        except WooError:
            for aid in uploaded:
                self.attachments.pop(aid, None)
            raise
        return uploaded

    def _apply(self, p, b, uploaded):
        if "type" in b:
            p["type"] = b["type"] if b["type"] in TYPE_ENUM else "simple"
        for f in SIMPLE_FIELDS:
            if f in b and b[f] is not None:
                p[f] = str(b[f])
        if "status" in b:
            p["status"] = b["status"] if b["status"] in STATUS_ENUM else "draft"
        if "slug" in b:
            p["slug"] = sanitize_title(b["slug"])
        if "menu_order" in b:
            p["menu_order"] = to_int(b["menu_order"])
        if "tax_status" in b:
            if b["tax_status"] not in TAX_STATUS_ENUM:
                raise WooError("product_invalid_tax_status", "Invalid product tax status.", 400)
            p["tax_status"] = b["tax_status"]
        if "catalog_visibility" in b:
            if b["catalog_visibility"] not in CATALOG_VISIBILITY:
                raise WooError("product_invalid_catalog_visibility", "Invalid catalog visibility option.", 400)
            p["catalog_visibility"] = b["catalog_visibility"]
        if "featured" in b:
            p["featured"] = rest_bool(b["featured"])
        if isinstance(b.get("dimensions"), dict):
            for k in ("length", "width", "height"):
                if k in b["dimensions"]:
                    p["dimensions"][k] = str(b["dimensions"][k])
        if "sku" in b:
            sku = str(b["sku"] if b["sku"] is not None else "").strip()
            owner = self.sku_owner(sku, p["id"]) if sku else None
            if owner is not None:
                n = 1
                while self.sku_owner("%s-%d" % (sku, n), p["id"]) is not None:
                    n += 1
                raise WooError("product_invalid_sku", "Invalid or duplicated SKU.", 400,
                               resource_id=owner, unique_sku="%s-%d" % (sku, n))
            p["sku"] = sku
        if isinstance(b.get("attributes"), list):
            p["attributes"] = self._attributes(b["attributes"])
        if p["type"] in ("variable", "grouped"):
            p["regular_price"] = p["sale_price"] = ""
        else:
            for f in ("regular_price", "sale_price"):
                if f in b:
                    p[f] = b[f]
        if "parent_id" in b:
            p["parent_id"] = to_int(b["parent_id"])
        if "stock_status" in b:
            p["stock_status"] = b["stock_status"] if b["stock_status"] in STOCK_STATUS_ENUM else "instock"
        if "manage_stock" in b:
            p["manage_stock"] = rest_bool(b["manage_stock"])
        if "backorders" in b:
            p["backorders"] = b["backorders"] if b["backorders"] in BACKORDERS_ENUM else "no"
        if "stock_quantity" in b and p["manage_stock"] and self.manage_stock_option:
            v = b["stock_quantity"]
            p["stock_quantity"] = to_int(v)
        for f in ("upsell_ids", "cross_sell_ids"):
            if isinstance(b.get(f), list):
                p[f] = [to_int(x) for x in b[f] if to_int(x)]
        if isinstance(b.get("categories"), list):
            p["categories"] = [to_int(c.get("id")) for c in b["categories"]
                               if isinstance(c, dict) and to_int(c.get("id")) in self.categories]
        if isinstance(b.get("tags"), list):
            p["tags"] = self._tags(b["tags"])
        if isinstance(b.get("images"), list):
            p["images"] = self.set_images(b["images"], uploaded)
        if isinstance(b.get("meta_data"), list):
            self._meta(p, b["meta_data"])

    def _tags(self, tags):
        ids = []
        for t in tags:
            if not isinstance(t, dict):
                continue
            if to_int(t.get("id")) in self.tags:
                ids.append(to_int(t["id"]))
            elif isinstance(t.get("name"), str) and t["name"].strip():
                found = self.find_term(self.tags, t["name"].strip())
                if not found:
                    tid = self.new_term_id()
                    found = self.tags[tid] = {"id": tid, "name": t["name"].strip(),
                                              "slug": sanitize_title(t["name"])}
                ids.append(found["id"])
        return ids

    def _attributes(self, attrs):
        out = []
        for i, a in enumerate(attrs):
            if not isinstance(a, dict):
                continue
            opts = a.get("options", [])
            if isinstance(opts, str):
                opts = [o.strip() for o in opts.split("|") if o.strip()]
            opts = [str(o) for o in opts] if isinstance(opts, list) else []
            entry = {"position": to_int(a.get("position")),
                     "visible": rest_bool(a.get("visible", False)),
                     "variation": rest_bool(a.get("variation", False)), "options": opts}
            aid = to_int(a.get("id"))
            if aid:
                g = self.global_attributes.get(aid)
                if not g or not opts:
                    continue   # an id attribute without options (or unknown) is dropped
                entry.update(id=aid, name=g["name"], slug=g["slug"])
            elif isinstance(a.get("name"), str) and a["name"].strip():
                entry.update(id=0, name=a["name"].strip(), slug=sanitize_title(a["name"]))
            else:
                continue
            out.append(entry)
        return out

    def _meta(self, p, items):
        for m in items:
            if not isinstance(m, dict) or not isinstance(m.get("key"), str):
                continue
            target = None
            for old in p["meta_data"]:
                if ("id" in m and old["id"] == m["id"]) or ("id" not in m and old["key"] == m["key"]):
                    target = old
                    break
            if target is None:
                self.next_meta += 1
                target = {"id": self.next_meta, "key": m["key"], "value": None}
                p["meta_data"].append(target)
            target["key"], target["value"] = m["key"], m.get("value")

    def finish_save(self, p, creating):
        """WC_Product::save(): validate_props, stock status, default category, dates."""
        if not p["manage_stock"]:
            p["stock_quantity"] = None
            p["backorders"] = "no"
        elif self.manage_stock_option:
            if p["stock_quantity"] is None:
                p["stock_quantity"] = 0
            if p["stock_quantity"] > 0:
                p["stock_status"] = "instock"
            else:
                p["stock_status"] = "outofstock" if p["backorders"] == "no" else "onbackorder"
        if not p["categories"]:
            p["categories"] = [15]
        if not p["name"]:
            p["name"] = "Product"
        if not p["slug"]:
            base = sanitize_title(p["name"]) or str(p["id"])
            slug, n = base, 1
            while any(q["slug"] == slug and q["id"] != p["id"] for q in self.products.values()):
                n += 1
                slug = "%s-%d" % (base, n)
            p["slug"] = slug
        now = now_gmt()
        if creating:
            p["date_created_gmt"] = now
        p["date_modified_gmt"] = now

    def create(self, body):
        p = self.new_product()
        uploaded = self.apply(p, body)
        if p["sku"] and (p["sku"].casefold() in {s.casefold() for s in self.orphan_skus}
                         or self.sku_owner(p["sku"], 0, include_trash=True) is not None):
            self.new_post_id()   # the row was inserted, then deleted again
            for aid in uploaded:
                self.attachments.pop(aid, None)
            raise WooError("woocommerce_rest_product_not_created",
                           "The product with SKU (%s) you are trying to insert is already present in "
                           "the lookup table" % p["sku"], 400)
        p["id"] = self.new_post_id()
        self.finish_save(p, True)
        self.products[p["id"]] = p
        return p

    def update(self, pid, body):
        old = self.products.get(pid)
        if old is None:
            raise WooError("woocommerce_rest_product_invalid_id", "Invalid ID.", 400)
        p = {k: (v.copy() if isinstance(v, (dict, list)) else v) for k, v in old.items()}
        p["meta_data"] = [dict(m) for m in old["meta_data"]]
        self.apply(p, body)
        self.finish_save(p, False)
        self.products[pid] = p
        return p

    # ---- views ---------------------------------------------------------------
    def image_view(self, aid, site):
        a = self.attachments[aid]
        return {"id": aid, "date_created": a["date_created_gmt"], "date_created_gmt": a["date_created_gmt"],
                "date_modified": a["date_created_gmt"], "date_modified_gmt": a["date_created_gmt"],
                "src": "%s/wp-content/uploads/fake/%d/%s" % (site, aid, a["file"]),
                "name": a["name"], "alt": a["alt"]}

    def view(self, p, site):
        priced = p["type"] not in ("variable", "grouped")
        price = (p["sale_price"] or p["regular_price"]) if priced else ""
        terms = lambda ids, store: [{"id": i, "name": store[i]["name"], "slug": store[i]["slug"]}  # noqa: E731
                                    for i in ids if i in store]
        return {
            "id": p["id"], "name": p["name"], "slug": p["slug"],
            "permalink": "%s/product/%s/" % (site, p["slug"]),
            "date_created": p["date_created_gmt"], "date_created_gmt": p["date_created_gmt"],
            "date_modified": p["date_modified_gmt"], "date_modified_gmt": p["date_modified_gmt"],
            "type": p["type"], "status": p["status"], "featured": p["featured"],
            "catalog_visibility": p["catalog_visibility"], "description": p["description"],
            "short_description": p["short_description"], "sku": p["sku"],
            "global_unique_id": p["global_unique_id"], "price": price,
            "regular_price": p["regular_price"], "sale_price": p["sale_price"],
            "on_sale": bool(priced and p["sale_price"]),
            "purchasable": bool(price) and p["status"] == "publish",
            "total_sales": 0, "virtual": False, "downloadable": False,
            "external_url": p["external_url"], "button_text": p["button_text"],
            "tax_status": p["tax_status"], "tax_class": p["tax_class"],
            "manage_stock": p["manage_stock"], "stock_quantity": p["stock_quantity"],
            "backorders": p["backorders"], "backorders_allowed": p["backorders"] != "no",
            "backordered": False, "stock_status": p["stock_status"], "weight": p["weight"],
            "dimensions": dict(p["dimensions"]), "parent_id": p["parent_id"],
            "purchase_note": p["purchase_note"], "upsell_ids": p["upsell_ids"],
            "cross_sell_ids": p["cross_sell_ids"],
            "categories": terms(p["categories"], self.categories), "tags": terms(p["tags"], self.tags),
            "images": [self.image_view(a, site) for a in p["images"] if a in self.attachments],
            "attributes": [dict(a) for a in p["attributes"]], "default_attributes": [],
            "variations": [], "grouped_products": [], "menu_order": p["menu_order"],
            "meta_data": [dict(m) for m in p["meta_data"]],
        }
