#!/usr/bin/python3
"""Fake Meta Graph API (commerce catalog edges) for catalogsync tests.

Serves POST /vNN.0/{catalog}/items_batch, GET .../check_batch_request_status,
GET .../products and GET /vNN.0/{catalog}, as strictly as
the real Graph API (README.md next to this file lists what it enforces). Batches are applied only when their
handle reaches `finished`, which happens after --polls-per-state polls in each
of scheduled/dispatched/started. See README.md next to this file.
"""
import base64
import hmac
import hashlib
import os
import re
import secrets
import sys
import time
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakecore  # noqa: E402
from fakecore import FakeApp, json_response, strict_json_loads  # noqa: E402
import meta_rules as rules  # noqa: E402

GRAPH_PATH_RE = re.compile(r"^/v(\d+)\.0(/.*)?$")
STATUSES = ("scheduled", "dispatched", "started", "finished")
MAX_REQUESTS = 5000
ERRORS_SAMPLE = 5                       # entries of "errors"/"warnings" in a batch status
MAX_PAYLOAD = 28 * 1000 * 1000          # "28 MB", read as decimal megabytes (the stricter one)
TRANSIENT_CODES = {1, 2, 4, 17, 32, 613, 80001, 80004, 80009, 80014}
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try again.",
    80009: "(#80009) There have been too many calls to this Catalog account. Wait a bit and try again.",
    80014: "(#80014) There have been too many calls for the batch uploads to this catalog account. "
           "Wait a bit and try again.",
}
DEFAULT_ERROR_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    10: "(#10) Application does not have permission for this action",
    100: "(#100) Invalid parameter",
    102: "Session key invalid or no longer valid",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Requires business_management permission to manage the object",
}
USAGE_KEYS = ("call_count", "total_cputime", "total_time", "estimated_time_to_regain_access")
CBRS_FIELDS = ("handle", "status", "errors", "errors_total_count", "warnings",
               "warnings_total_count", "ids_of_invalid_requests")


class GraphError(Exception):
    def __init__(self, code, message, subcode=None, type_="OAuthException", http_status=400,
                 is_transient=None, user_title=None, user_msg=None, headers=None):
        super().__init__(message)
        self.code, self.message, self.subcode, self.type = code, message, subcode, type_
        self.http_status = http_status
        self.is_transient = (code in TRANSIENT_CODES) if is_transient is None else bool(is_transient)
        self.user_title, self.user_msg = user_title, user_msg
        self.headers = headers or {}


def _unsupported(method, obj_id):
    return GraphError(100, "Unsupported %s request. Object with ID '%s' does not exist, cannot be "
                      "loaded due to missing permissions, or does not support this operation. "
                      "Please read the Graph API documentation at "
                      "https://developers.facebook.com/docs/graph-api" % (method.lower(), obj_id),
                      subcode=33, type_="GraphMethodException")


def _param_bool(params, name, default):
    v = params.get(name)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "1", "false", "0"):
        return v.lower() in ("true", "1")
    raise GraphError(100, "(#100) Param %s must be a boolean" % name)


def _b64(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def _unb64(s):
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


class MetaApp(FakeApp):
    name = "fake_meta"
    description = "Fake Meta Graph API (commerce catalog: items_batch, check_batch_request_status, products)."
    epilog = "Control API under /_fake/ (no auth); see tests/fakes/README.md."
    redact_params = ("access_token",)
    extra_request_actions = ("batch_error",)
    item_actions = ("item_error", "item_warning")
    default_max_body = 32 * 1024 * 1024
    stat_keys = ("batch_calls", "records_received", "records_rejected", "handles_created", "status_polls",
                 "items_written", "items_created", "items_updated", "items_deleted", "records_failed")

    @classmethod
    def add_arguments(cls, p):
        p.add_argument("--token", action="append", default=[],
                       help="valid access token (repeatable; default: test-token)")
        p.add_argument("--app-secret", help="require appsecret_proof = hex HMAC-SHA256(app secret, token)")
        p.add_argument("--catalog", action="append", default=[],
                       help="known catalog id (repeatable; default: any all-digit id)")
        p.add_argument("--polls-per-state", type=int, default=1, metavar="N",
                       help="polls a handle stays in each of scheduled/dispatched/started (default 1; "
                            "0 = finished at the first poll)")
        p.add_argument("--batch-ms", type=int, default=0, metavar="MS",
                       help="a batch stays started until MS ms after items_batch accepted it, "
                            "however often it is polled (Meta processes batches on its own clock; "
                            "default 0)")
        p.add_argument("--require-image", dest="require_image", action="store_true", default=True,
                       help="image_link is a required field for creates (the default, as at Meta)")
        p.add_argument("--no-require-image", dest="require_image", action="store_false",
                       help="let items be created without image_link (laxer than Meta)")
        p.add_argument("--max-payload", type=int, default=MAX_PAYLOAD, metavar="BYTES",
                       help="largest items_batch body; a larger one gets code 1 \"Please reduce "
                            "the amount of data\" (default 28,000,000)")
        p.add_argument("--today", metavar="YYYY-MM-DD",
                       help="the date the Graph API version table is read at (default: today)")
        p.add_argument("--business-id", default="1000000000000001",
                       help="key of X-Business-Use-Case-Usage for calls not addressed to a catalog")

    @classmethod
    def check_arguments(cls, parser, args):
        if args.polls_per_state < 0:
            parser.error("--polls-per-state must be >= 0")
        if args.batch_ms < 0:
            parser.error("--batch-ms must be >= 0")
        if args.max_payload < 1:
            parser.error("--max-payload must be >= 1")
        if args.today and not re.match(r"^\d{4}-\d{2}-\d{2}$", args.today):
            parser.error("--today is YYYY-MM-DD")
        for c in args.catalog:
            if not c.isdigit():
                parser.error("--catalog ids are digits")

    def reset(self):
        self.tokens = set(self.args.token or ["test-token"])
        self.expired = set()
        self.catalogs = {c: {} for c in self.args.catalog}
        self.handles = {}
        self.item_seq = 0
        self.usage = {t: dict.fromkeys(USAGE_KEYS, 0) for t in ("catalog_batch", "catalog_management")}
        self.app_usage = {"call_count": 0, "total_time": 0, "total_cputime": 0}
        self.usage_headers = True
        self.outages = {}       # catalog id -> {"error", "until" (time) or "calls" left}

    # ---- helpers -------------------------------------------------------
    def route_of(self, req):
        m = GRAPH_PATH_RE.match(req.path)
        if not m:
            return "%s (bad path)" % req.method
        parts = (m.group(2) or "/").strip("/").split("/")
        if len(parts) == 2:
            return "%s %s" % (req.method, parts[1])
        return "%s node" % req.method

    def _catalog(self, cid):
        if cid in self.catalogs:
            return self.catalogs[cid]
        if not self.args.catalog and cid.isdigit():
            self.catalogs[cid] = {}
            return self.catalogs[cid]
        return None

    def _params(self, req):
        if req.json_error:
            raise GraphError(100, "(#100) Invalid JSON in request body: %s" % req.json_error)
        params = {k: v[0] for k, v in req.query.items()}
        if isinstance(req.form, dict):
            params.update(req.form)
        elif isinstance(req.json, dict):
            params.update(req.json)
        return params

    def _authenticate(self, req, params):
        token, source = None, None
        auth = req.headers.get("Authorization")
        if auth:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() in ("bearer", "oauth") and value.strip():
                token, source = value.strip(), "header"
        if token is None and params.get("access_token"):
            token, source = params["access_token"], "query" if req.q("access_token") else "body"
        req.record["auth"] = {"token_source": source, "token_ok": False}
        if token is None:
            raise GraphError(190, "An access token is required to request this resource.")
        if token in self.expired:
            raise GraphError(190, "Error validating access token: Session has expired on Thursday, "
                             "01-Jan-26 00:00:00 PST. The current time is %s."
                             % time.strftime("%A, %d-%b-%y %H:%M:%S UTC", time.gmtime()), subcode=463)
        if not isinstance(token, str) or token not in self.tokens:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        if self.args.app_secret:
            proof = params.get("appsecret_proof")
            if not proof:
                raise GraphError(100, "API calls from the server require an appsecret_proof argument")
            want = hmac.new(self.args.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not isinstance(proof, str) or not hmac.compare_digest(proof, want):
                raise GraphError(100, "Invalid appsecret_proof provided in the API argument")
        req.record["auth"]["token_ok"] = True

    def _error(self, e):
        err = {"message": e.message, "type": e.type, "code": e.code}
        if e.subcode is not None:
            err["error_subcode"] = e.subcode
        if e.user_title is not None:
            err["error_user_title"] = e.user_title
        if e.user_msg is not None:
            err["error_user_msg"] = e.user_msg
        err["fbtrace_id"] = secrets.token_urlsafe(8)[:11]
        err["is_transient"] = e.is_transient
        resp = json_response(e.http_status, {"error": err})
        if e.code == 190:
            resp.set_header("WWW-Authenticate", 'OAuth "Facebook Platform" "invalid_token" "%s"'
                            % e.message.replace('"', "'"))
        for k, v in e.headers.items():
            resp.set_header(k, v)
        return resp

    def _buc_type(self, req):
        return "catalog_batch" if req.path.endswith(("/items_batch", "/batch")) else "catalog_management"

    def _buc_header(self, req, values):
        m = re.match(r"^/v\d+\.0/(\d+)", req.path)
        key = m.group(1) if m else self.args.business_id
        entry = {"type": self._buc_type(req)}
        entry.update({k: values[k] for k in USAGE_KEYS})
        return fakecore.json_dumps({key: [entry]}).decode()

    def decorate(self, req, resp):
        m = GRAPH_PATH_RE.match(req.path)
        today = self.args.today or time.strftime("%Y-%m-%d", time.gmtime())
        asked = "v%s.0" % m.group(1) if m else rules.CURRENT_VERSION
        # An expired version is answered by a newer one, which the header names.
        resp.set_header("facebook-api-version", rules.served_version(asked, today) or asked)
        resp.set_header("x-fb-trace-id", secrets.token_urlsafe(8)[:11])
        if self.usage_headers:
            if resp.get_header("X-Business-Use-Case-Usage") is None:
                resp.set_header("X-Business-Use-Case-Usage", self._buc_header(req, self.usage[self._buc_type(req)]))
            if resp.get_header("X-App-Usage") is None:
                resp.set_header("X-App-Usage", fakecore.json_dumps(self.app_usage).decode())

    def fault_response(self, req, fault):
        action = fault["action"]
        if action == "http_status":
            return fakecore.http_status_fault_response(fault)
        if action == "rate_limit":
            code = fault.get("code", 80014)
            regain = fault.get("estimated_time_to_regain_access", 1)
            usage = {"call_count": 100, "total_cputime": 100, "total_time": 100,
                     "estimated_time_to_regain_access": regain}
            headers = {"X-Business-Use-Case-Usage": self._buc_header(req, usage),
                       "X-App-Usage": fakecore.json_dumps({"call_count": 100, "total_time": 100,
                                                           "total_cputime": 100}).decode()}
            if "retry_after" in fault:
                headers["Retry-After"] = str(int(fault["retry_after"]))
            e = GraphError(code, fault.get("message", THROTTLE_MESSAGES.get(code, "(#%d) Rate limit reached" % code)),
                           subcode=fault.get("subcode"), http_status=fault.get("http_status", 400),
                           is_transient=fault.get("is_transient", True), headers=headers)
            return self._error(e)
        code = fault.get("code", 1)           # action == "error"
        default_status = 500 if code in (1, 2) else 400
        e = GraphError(code, fault.get("message", DEFAULT_ERROR_MESSAGES.get(code, "(#%d) Error" % code)),
                       subcode=fault.get("subcode"), type_=fault.get("type", "OAuthException"),
                       http_status=fault.get("http_status", default_status),
                       is_transient=fault.get("is_transient"), user_title=fault.get("error_user_title"),
                       user_msg=fault.get("error_user_msg"), headers=fault.get("headers"))
        return self._error(e)

    def validate_fault(self, f):
        if f["action"] in self.item_actions and not isinstance(f.get("retailer_id"), str):
            return "%s needs retailer_id (string)" % f["action"]
        if f["action"] in ("error", "rate_limit") and "code" in f and not isinstance(f["code"], int):
            return "code must be an integer"
        return None

    # ---- API -------------------------------------------------------------
    def handle(self, req):
        try:
            return self._handle(req)
        except GraphError as e:
            return self._error(e)

    def _handle(self, req):
        m = GRAPH_PATH_RE.match(req.path)
        if not m:
            raise GraphError(100, "Unknown path components: %s" % req.path)
        params = self._params(req)
        self._authenticate(req, params)
        parts = (m.group(2) or "/").strip("/").split("/")
        if parts == [""]:
            raise GraphError(100, "Unknown path components: /")
        if len(parts) > 2:
            raise GraphError(100, "Unknown path components: /%s" % "/".join(parts[2:]))
        cid, edge = parts[0], (parts[1] if len(parts) == 2 else None)
        self._outage(req, cid)
        catalog = self._catalog(cid)
        if catalog is None:
            raise _unsupported(req.method, cid)
        u = self.usage[self._buc_type(req)]
        if max(u["call_count"], u["total_cputime"], u["total_time"]) >= 100:
            code = 80014 if self._buc_type(req) == "catalog_batch" else 80009
            raise GraphError(code, THROTTLE_MESSAGES[code])
        if edge is None:
            if req.method != "GET":
                raise _unsupported(req.method, cid)
            return json_response(200, {"id": cid, "name": "Fake catalog %s" % cid,
                                       "product_count": len(catalog)})
        routes = {("POST", "items_batch"): self._items_batch,
                  ("GET", "check_batch_request_status"): self._check_status,
                  ("GET", "products"): self._products}
        fn = routes.get((req.method, edge))
        if fn is None:
            if edge in ("items_batch", "check_batch_request_status", "products"):
                raise GraphError(100, "(#100) Unsupported %s request on edge %s" % (req.method.lower(), edge))
            raise GraphError(100, "(#100) Tried accessing nonexisting field (%s) on node type (ProductCatalog)"
                             % edge)
        return fn(req, params, cid, catalog)

    def _outage(self, req, cid):
        """A catalog made unusable with POST /_fake/catalog_outage answers every
        call as Meta does while it lasts (field notes: whole-call errors)."""
        o = self.outages.get(cid)
        if o is None:
            return
        if ("until" in o and time.time() >= o["until"]) or o.get("calls") == 0:
            del self.outages[cid]
            return
        if "calls" in o:
            o["calls"] -= 1
        if o["error"] == "missing":
            raise _unsupported(req.method, cid)
        raise GraphError(368, "The action attempted has been deemed abusive or is otherwise disallowed",
                         type_="OAuthException")

    def _items_batch(self, req, params, cid, catalog):
        if len(req.body) > self.args.max_payload:
            # Field notes: a body too large is answered code 1, not 100.
            raise GraphError(1, "Please reduce the amount of data you're asking for, then retry "
                             "your request", http_status=500)
        item_type = params.get("item_type")
        if item_type is None:
            raise GraphError(100, "(#100) The parameter item_type is required")
        if item_type != "PRODUCT_ITEM":
            raise GraphError(100, '(#100) Param item_type must be PRODUCT_ITEM for this catalog, got "%s"'
                             % item_type)
        reqs = params.get("requests")
        if reqs is None:
            raise GraphError(100, "(#100) The parameter requests is required")
        if isinstance(reqs, str):
            try:
                reqs = strict_json_loads(reqs)
            except ValueError:
                raise GraphError(100, "(#100) Param requests must be a JSON array")
        if not isinstance(reqs, list):
            raise GraphError(100, "(#100) Param requests must be a JSON array")
        if not reqs:
            raise GraphError(100, "(#100) Param requests must contain at least 1 element")
        if len(reqs) > MAX_REQUESTS:
            raise GraphError(100, "(#100) Param requests must contain at most %d elements, got %d"
                             % (MAX_REQUESTS, len(reqs)))
        allow_upsert = _param_bool(params, "allow_upsert", True)
        accepted, status, seen = [], [], set()
        for i, r in enumerate(reqs):
            if not isinstance(r, dict):
                raise GraphError(100, "(#100) Param requests[%d] must be an object" % i)
            method = r.get("method")
            if method not in ("CREATE", "UPDATE", "DELETE"):
                raise GraphError(100, "(#100) Param requests[%d][method] must be one of "
                                 "{CREATE, UPDATE, DELETE}" % i)
            data = r.get("data")
            if not isinstance(data, dict):
                raise GraphError(100, "(#100) Param requests[%d][data] must be an object" % i)
            errs = []
            rid = data.get("id")
            if rid is None and "retailer_id" in data:
                rid = str(data["retailer_id"])
                errs.append("data.id is required")
            elif not isinstance(rid, str):
                raise GraphError(100, "(#100) Param requests[%d][data][id] must be a non-empty string" % i)
            if rid in seen:
                errs = ["Duplicate retailer_id in batch api call - %s." % rid]
            else:
                seen.add(rid)
                if not 1 <= len(rid) <= rules.MAX_RETAILER_ID:
                    errs.append("Invalid retailer id: must be 1 to %d characters" % rules.MAX_RETAILER_ID)
                errs += rules.validate_record_fields(method, data)
            if errs:
                status.append({"retailer_id": rid, "errors": [{"message": e} for e in errs], "warnings": []})
                continue
            accepted.append({"line": i, "method": method, "id": rid,
                             "data": {k: v for k, v in data.items() if k != "id"}})
        for f in self.item_faults(req):
            key = "fault_message" if f["action"] == "item_error" else "warning_message"
            hits = [a for a in accepted if a["id"] == f["retailer_id"] and key not in a]
            if hits:
                for a in hits:
                    a[key] = f.get("message", "Item rejected by scripted fault" if key == "fault_message"
                                   else "Field not applied (scripted warning)")
                    if key == "fault_message" and f.get("unnamed"):
                        a["unnamed"] = True
                self.consume_fault(f)
        self.count("batch_calls")
        self.count("records_received", len(reqs))
        self.count("records_rejected", len(status))
        handles = []
        if accepted:
            h = "Ac" + secrets.token_urlsafe(33)
            self.handles[h] = {"catalog": cid, "records": accepted, "allow_upsert": allow_upsert,
                               "state": 0, "polls_in_state": 0, "polls": 0, "status": STATUSES[0],
                               "errors": [], "warnings": [], "created": time.time(),
                               "batch_error": req.fault if req.fault and req.fault["action"] == "batch_error" else None}
            handles.append(h)
            self.count("handles_created")
        return json_response(200, {"handles": handles, "validation_status": status})

    def _advance(self, hd):
        n = self.args.polls_per_state
        while hd["status"] not in ("finished", "error") and hd["polls_in_state"] >= n:
            if hd["state"] == 2 and time.time() - hd["created"] < self.args.batch_ms / 1000.0:
                return          # still running: finished only after --batch-ms
            hd["state"] += 1
            hd["polls_in_state"] = 0
            if hd["state"] == 3:
                self._finish(hd)
            else:
                hd["status"] = STATUSES[hd["state"]]

    def _finish(self, hd):
        catalog = self.catalogs.setdefault(hd["catalog"], {})
        records = hd["records"]
        if hd["batch_error"] is not None:
            records = records[:int(hd["batch_error"].get("applied", 0))]
            hd["status"] = "error"
        else:
            hd["status"] = "finished"
        for rec in records:
            msg = self._apply(catalog, rec, hd["allow_upsert"])
            if msg:
                err = {"line": rec["line"], "id": rec["id"], "message": msg}
                if rec.get("unnamed"):
                    err["unnamed"] = True
                hd["errors"].append(err)
                self.count("records_failed")
            elif rec.get("warning_message"):
                hd["warnings"].append({"line": rec["line"], "id": rec["id"],
                                       "message": rec["warning_message"]})

    def _apply(self, catalog, rec, allow_upsert):
        if rec.get("fault_message"):
            return rec["fault_message"]
        rid, method, data = rec["id"], rec["method"], rec["data"]
        item = catalog.get(rid)
        now = int(time.time())
        if method == "DELETE":
            if item is not None:
                del catalog[rid]
                self.count("items_deleted")
            return None
        if item is not None:
            if method == "CREATE":
                return ("cannot create %s: an item with this retailer_id already exists in the catalog"
                        % rid)
            item["fields"].update(data)
            item["updated_time"] = now
            self.count("items_written")
            self.count("items_updated")
            return None
        if method == "UPDATE" and not allow_upsert:
            return "cannot update %s: the item does not exist and allow_upsert is false" % rid
        missing = rules.missing_required(data, self.args.require_image)
        if missing:
            return "cannot create %s without required field %s" % (rid, missing)
        self.item_seq += 1
        catalog[rid] = {"item_id": str(7100000000000000 + self.item_seq * 7919), "retailer_id": rid,
                        "fields": dict(data), "created_time": now, "updated_time": now}
        self.count("items_written")
        self.count("items_created")
        return None

    def _status_view(self, h, hd, load_ids):
        done = hd["status"] in ("finished", "error")
        errors = hd["errors"] if done else []
        warnings = hd["warnings"] if done else []
        # "errors" and "warnings" are samples; the counts are complete, and so
        # are the ids, but for errors scripted "unnamed" (counted, never named).
        sample = [{k: v for k, v in e.items() if k != "unnamed" and not (k == "id" and e.get("unnamed"))}
                  for e in errors[:ERRORS_SAMPLE]]
        return {"handle": h, "status": hd["status"], "errors": sample,
                "errors_total_count": len(errors), "warnings": warnings[:ERRORS_SAMPLE],
                "warnings_total_count": len(warnings),
                "ids_of_invalid_requests": sorted({e["id"] for e in errors if not e.get("unnamed")})
                if load_ids else []}

    def _fields(self, params, allowed, node_type):
        raw = params.get("fields")
        if raw is None:
            return None
        names = [f.strip() for f in str(raw).split(",") if f.strip()]
        for f in names:
            if f not in allowed:
                raise GraphError(100, "(#100) Tried accessing nonexisting field (%s) on node type (%s)"
                                 % (f, node_type))
        return names

    def _check_status(self, req, params, cid, catalog):
        h = params.get("handle")
        if not h:
            raise GraphError(100, "(#100) The parameter handle is required")
        hd = self.handles.get(h)
        if hd is None or hd["catalog"] != cid:
            raise GraphError(100, '(#100) Param handle is invalid: no batch request "%s" in catalog %s'
                             % (h, cid))
        load_ids = _param_bool(params, "load_ids_of_invalid_requests", False)
        fields = self._fields(params, CBRS_FIELDS, "CheckBatchRequestStatus")
        if params.get("error_priority") not in (None, "HIGH", "MEDIUM", "LOW"):
            raise GraphError(100, "(#100) Param error_priority must be one of {HIGH, MEDIUM, LOW}")
        self._advance(hd)
        view = self._status_view(h, hd, load_ids)
        hd["polls_in_state"] += 1
        hd["polls"] += 1
        self.count("status_polls")
        if fields is not None:
            view = {k: view[k] for k in fields}
        return json_response(200, {"data": [view]})

    def _products(self, req, params, cid, catalog):
        items = list(catalog.values())
        flt = params.get("filter")
        if flt is not None:
            try:
                flt = strict_json_loads(flt) if isinstance(flt, str) else flt
            except ValueError:
                raise GraphError(100, "(#100) Param filter must be a JSON object")
            if not isinstance(flt, dict):
                raise GraphError(100, "(#100) Param filter must be a JSON object")
            for key, cond in flt.items():
                if key != "retailer_id" or not isinstance(cond, dict) or len(cond) != 1:
                    raise GraphError(100, "(#100) Unsupported filter %s (the fake supports "
                                     "retailer_id with eq, neq, is_any)" % fakecore.json_dumps({key: cond}).decode())
                op, val = next(iter(cond.items()))
                if op == "eq":
                    items = [i for i in items if i["retailer_id"] == str(val)]
                elif op == "neq":
                    items = [i for i in items if i["retailer_id"] != str(val)]
                elif op == "is_any" and isinstance(val, list):
                    items = [i for i in items if i["retailer_id"] in [str(v) for v in val]]
                else:
                    raise GraphError(100, "(#100) Unsupported filter operator %s" % op)
        fields = self._fields(params, rules.PRODUCT_FIELDS, "ProductItem") or ["id", "retailer_id"]
        try:
            limit = int(params.get("limit", 25))
        except (TypeError, ValueError):
            limit = -1
        if not 1 <= limit <= 5000:
            raise GraphError(100, "(#100) Param limit must be an integer between 1 and 5000")
        start = 0
        if params.get("after"):
            cur = _unb64(str(params["after"]))
            if not cur.startswith("idx:") or not cur[4:].isdigit():
                raise GraphError(100, "(#100) Invalid cursor in param after")
            start = int(cur[4:]) + 1
        page = items[start:start + limit]
        data = []
        for item in page:
            view = rules.graph_product_view(item)
            data.append({k: view[k] for k in fields if k in view})
        out = {"data": data}
        if page:
            out["paging"] = {"cursors": {"before": _b64("idx:%d" % start),
                                         "after": _b64("idx:%d" % (start + len(page) - 1))}}
            if start + len(page) < len(items):
                q = dict((k, v[0]) for k, v in req.query.items() if k != "access_token")
                q["after"] = out["paging"]["cursors"]["after"]
                out["paging"]["next"] = "http://%s%s?%s" % (req.headers.get("Host", "127.0.0.1"),
                                                            req.path, urlencode(q))
        else:
            out["paging"] = {"cursors": {}}
        if _param_bool(params, "summary", False):
            out["summary"] = {"total_count": len(items)}
        return json_response(200, out)

    # ---- control ---------------------------------------------------------
    def state(self):
        handles = {}
        for h, hd in self.handles.items():
            handles[h] = {"catalog": hd["catalog"], "status": hd["status"], "polls": hd["polls"],
                          "allow_upsert": hd["allow_upsert"], "records": len(hd["records"]),
                          "retailer_ids": [r["id"] for r in hd["records"]], "errors": hd["errors"],
                          "batch_error": hd["batch_error"] is not None}
        return {"catalogs": {c: {"items": items} for c, items in self.catalogs.items()},
                "handles": handles, "expired_tokens": sorted(self.expired),
                "outages": {c: dict(o) for c, o in self.outages.items()},
                "usage": self.usage, "app_usage": self.app_usage, "usage_headers": self.usage_headers}

    def control(self, req, name):
        if req.method != "POST":
            return None
        body = req.control_json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        if name == "expire_token":
            if not isinstance(body.get("token"), str):
                raise ValueError("expire_token needs {\"token\": \"...\"}")
            self.expired.add(body["token"])
            return json_response(200, {"ok": True})
        if name == "usage":
            types = [body["type"]] if body.get("type") else list(self.usage)
            for t in types:
                if t not in self.usage:
                    raise ValueError("type must be catalog_batch or catalog_management")
                for k in USAGE_KEYS:
                    if k in body:
                        self.usage[t][k] = body[k]
            if isinstance(body.get("app"), dict):
                self.app_usage.update(body["app"])
            if "headers" in body:
                self.usage_headers = bool(body["headers"])
            return json_response(200, {"usage": self.usage, "app_usage": self.app_usage})
        if name == "catalog_outage":
            cid = str(body.get("catalog", ""))
            if body.get("error") not in ("missing", "disallowed"):
                raise ValueError("catalog_outage needs error: missing (100/33) or disallowed (368)")
            o = {"error": body["error"]}
            if isinstance(body.get("seconds"), (int, float)) and body["seconds"] > 0:
                o["until"] = time.time() + body["seconds"]
            elif isinstance(body.get("calls"), int) and body["calls"] > 0:
                o["calls"] = body["calls"]
            else:
                raise ValueError("catalog_outage needs seconds (> 0) or calls (> 0)")
            self.outages[cid] = o
            return json_response(200, {"ok": True})
        if name == "remove":
            catalog = self.catalogs.get(str(body.get("catalog", "")))
            if catalog is None or not isinstance(body.get("retailer_id"), str):
                raise ValueError("remove needs a known catalog and retailer_id")
            return json_response(200, {"removed": catalog.pop(body["retailer_id"], None) is not None})
        if name == "settle":
            done = []
            for h, hd in self.handles.items():
                if body.get("handle") in (None, h) and hd["status"] not in ("finished", "error"):
                    hd["state"] = 2
                    hd["polls_in_state"] = 0
                    self._finish(hd)
                    done.append(h)
            return json_response(200, {"settled": done})
        if name == "seed":
            catalog = self._catalog(str(body.get("catalog", "")))
            if catalog is None:
                raise ValueError("unknown catalog %r" % body.get("catalog"))
            for data in body.get("items", []):
                rid = data["id"]
                self.item_seq += 1
                now = int(time.time())
                catalog[rid] = {"item_id": str(7100000000000000 + self.item_seq * 7919), "retailer_id": rid,
                                "fields": {k: v for k, v in data.items() if k != "id"},
                                "created_time": now, "updated_time": now}
            return json_response(200, {"ok": True, "items": len(catalog)})
        return None


if __name__ == "__main__":
    sys.exit(fakecore.main(MetaApp))
