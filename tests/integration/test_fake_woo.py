"""Tests of tests/fakes/fake_woo.py (the fake WooCommerce REST API).

Run: cd /work/main && /usr/bin/python3 -m unittest discover -s tests/integration -p 'test_fake_*.py' -v
"""
import base64
import hashlib
import hmac
import http.client
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
from urllib.parse import quote, urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
from fakeproc import FakeProcess  # noqa: E402

CK, CS = "ck_" + "a" * 40, "cs_" + "b" * 40
RO_CK, RO_CS = "ck_" + "c" * 40, "cs_" + "d" * 40
P = "/wp-json/wc/v3/products"


def basic(ck=CK, cs=CS):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (ck, cs)).encode()).decode()}


def make_tls(tmp):
    """Throwaway CA + server certificate for 127.0.0.1 (SAN IP). Returns (ca, cert, key)."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=catalogsync test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(tmp, "ext.cnf"), "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                 "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    return [os.path.join(tmp, n) for n in ("ca.pem", "srv.pem", "srv.key")]


def oauth_params(method, base_url, query, ck=CK, cs=CS, algo="HMAC-SHA1", ts=None, nonce=None):
    """Client side of OAuth 1.0a one-legged signing (RFC 5849 §3.4 with key `secret&`)."""
    enc = lambda s: quote(str(s), safe="~")  # noqa: E731
    params = dict(query)
    params.update({"oauth_consumer_key": ck, "oauth_timestamp": str(int(ts if ts is not None else time.time())),
                   "oauth_nonce": nonce or secrets.token_hex(8), "oauth_signature_method": algo})
    norm = "&".join("%s=%s" % kv for kv in sorted((enc(k), enc(v)) for k, v in params.items()))
    base = "&".join([method, enc(base_url), enc(norm)])
    digest = hashlib.sha1 if algo == "HMAC-SHA1" else hashlib.sha256
    params["oauth_signature"] = base64.b64encode(hmac.new((cs + "&").encode(), base.encode(), digest).digest()).decode()
    return params


class WooBase(unittest.TestCase):
    def setUp(self):
        self.fake.reset()

    def assertWooError(self, result, status, code):
        st, hdrs, body = result
        self.assertEqual(st, status, body)
        self.assertEqual(body["code"], code, body)
        self.assertEqual(body["data"]["status"], status)
        return body


class TestWooTLS(WooBase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.addClassCleanup(cls.tmp.cleanup)
        ca, cert, key = make_tls(cls.tmp.name)
        ctx = ssl.create_default_context(cafile=ca)
        cls.fake = FakeProcess("fake_woo.py", ["--key", CK, "--secret", CS, "--readonly-key", RO_CK,
                                               "--readonly-secret", RO_CS, "--tls-cert", cert, "--tls-key", key],
                               tls_context=ctx)
        cls.addClassCleanup(cls.fake.stop)

    def call(self, method, path, body=None, headers=None):
        h = basic()
        h.update(headers or {})
        return self.fake.json(method, path, body, h)

    def create(self, **fields):
        st, hdrs, body = self.call("POST", P, fields)
        self.assertEqual(st, 201, body)
        return body

    def test_crud_trash_and_410(self):
        st, hdrs, body = self.call("POST", P, {"name": "Mug", "sku": "MUG-1", "regular_price": "10.00",
                                               "sale_price": "", "manage_stock": True, "stock_quantity": 3,
                                               "description": "<p>Blue</p>"})
        self.assertEqual(st, 201, body)
        pid = body["id"]
        self.assertTrue(hdrs["location"].endswith("/wp-json/wc/v3/products/%d" % pid))
        self.assertEqual((body["price"], body["stock_quantity"], body["stock_status"]), ("10.00", 3, "instock"))
        for k in ("slug", "type", "status", "categories", "tags", "images", "attributes", "meta_data",
                  "date_created_gmt", "date_modified_gmt", "short_description"):
            self.assertIn(k, body)
        st, _, got = self.call("GET", "%s/%d" % (P, pid))
        self.assertEqual((st, got["sku"]), (200, "MUG-1"))
        st, _, upd = self.call("PUT", "%s/%d" % (P, pid), {"sale_price": "8.00", "stock_quantity": 0})
        self.assertEqual((st, upd["price"], upd["name"], upd["stock_status"]), (200, "8.00", "Mug", "outofstock"))
        st, _, upd = self.call("PATCH", "%s/%d" % (P, pid), {"meta_data": [{"key": "pim_version", "value": "7"}]})
        self.assertEqual(upd["meta_data"][0]["value"], "7")
        st, _, trashed = self.call("DELETE", "%s/%d" % (P, pid))
        self.assertEqual((st, trashed["status"]), (200, "publish"))   # the product as it was before
        self.assertEqual(self.fake.state()["products"][str(pid)]["status"], "trash")
        self.assertWooError(self.call("DELETE", "%s/%d" % (P, pid)), 410, "woocommerce_rest_already_trashed")
        st, _, gone = self.call("DELETE", "%s/%d?force=true" % (P, pid))
        self.assertEqual(st, 200)
        self.assertWooError(self.call("GET", "%s/%d" % (P, pid)), 404, "woocommerce_rest_product_invalid_id")
        self.assertWooError(self.call("PUT", "%s/%d" % (P, pid), {"name": "x"}), 400,
                            "woocommerce_rest_product_invalid_id")
        self.assertWooError(self.call("POST", P, {"id": 5, "name": "x"}), 400, "woocommerce_rest_product_exists")
        stats = self.fake.stats()
        self.assertEqual((stats["products_created"], stats["products_trashed"], stats["products_deleted"]), (1, 1, 1))

    def test_strict_types(self):
        body = self.assertWooError(self.call("POST", P, {"name": "x", "regular_price": 10}), 400, "rest_invalid_param")
        self.assertEqual(body["data"]["params"], {"regular_price": "regular_price is not of type string."})
        self.assertWooError(self.call("POST", P, {"regular_price": "10,00"}), 400, "rest_invalid_param")
        self.assertWooError(self.call("POST", P, {"status": "published"}), 400, "rest_invalid_param")
        self.assertWooError(self.call("POST", P, {"stock_quantity": "many"}), 400, "rest_invalid_param")
        self.assertWooError(self.call("POST", P, {"manage_stock": "maybe"}), 400, "rest_invalid_param")
        self.assertWooError(self.call("POST", P, {"images": [{"id": "x"}]}), 400, "rest_invalid_param")
        self.assertWooError(self.call("POST", P, {"catalog_visibility": "everywhere"}), 400,
                            "product_invalid_catalog_visibility")
        p = self.create(name="NoStock", stock_quantity=5)   # ignored without manage_stock
        self.assertIsNone(p["stock_quantity"])
        self.assertEqual(self.fake.stats().get("products_created"), 1)

    def test_content_type_and_malformed_json(self):
        st, _, body = self.fake.json("POST", P, '{"name":"Real name","sku":"CT-1"}',
                                     dict(basic(), **{"Content-Type": "text/plain"}))
        self.assertEqual((st, body["name"], body["sku"]), (201, "Product", ""))
        self.assertWooError(self.fake.json("POST", P, '{"name":', dict(basic(), **{"Content-Type": "application/json"})),
                            400, "rest_invalid_json")

    def test_sku_lookup_and_duplicates(self):
        a = self.create(name="A", sku="ABC-1", regular_price="1.00")
        b = self.create(name="B", sku="XYZ", regular_price="2.00")
        self.create(name="C", sku="ABC-10", regular_price="3.00")
        st, hdrs, found = self.call("GET", P + "?sku=abc-1,XYZ&_fields=id,sku")
        self.assertEqual(sorted(p["id"] for p in found), sorted([a["id"], b["id"]]))
        self.assertEqual(set(found[0]), {"id", "sku"})
        self.assertEqual(hdrs["x-wp-total"], "2")
        st, _, found = self.call("GET", P + "?search_sku=ABC")
        self.assertEqual(len(found), 2)
        dup = self.assertWooError(self.call("POST", P, {"name": "dup", "sku": "ABC-1"}), 400, "product_invalid_sku")
        self.assertEqual(dup["message"], "Invalid or duplicated SKU.")
        self.assertEqual(dup["data"]["resource_id"], a["id"])
        self.assertEqual(dup["data"]["unique_sku"], "ABC-1-1")
        self.call("DELETE", "%s/%d" % (P, a["id"]))
        st, _, found = self.call("GET", P + "?sku=ABC-1")
        self.assertEqual(found, [])
        st, _, found = self.call("GET", P + "?sku=ABC-1&status=trash")
        self.assertEqual([p["id"] for p in found], [a["id"]])
        body = self.assertWooError(self.call("POST", P, {"name": "again", "sku": "ABC-1"}), 400,
                                   "woocommerce_rest_product_not_created")
        self.assertIn("already present in the lookup table", body["message"])

    def test_list_pagination_and_params(self):
        for i in range(5):
            self.create(name="P%d" % i, sku="PG-%d" % i)
        st, hdrs, page = self.call("GET", P + "?per_page=2&page=2&orderby=id&order=asc")
        self.assertEqual((st, hdrs["x-wp-total"], hdrs["x-wp-totalpages"]), (200, "5", "3"))
        self.assertEqual([p["sku"] for p in page], ["PG-2", "PG-3"])
        self.assertIn('rel="next"', hdrs["link"])
        self.assertIn('rel="prev"', hdrs["link"])
        body = self.assertWooError(self.call("GET", P + "?per_page=101"), 400, "rest_invalid_param")
        self.assertIn("per_page", body["data"]["params"])
        st, _, body = self.fake.json("GET", "/?rest_route=/wc/v3/products&per_page=1", None, basic())
        self.assertEqual((st, len(body)), (200, 1))

    def test_batch_per_item_errors_by_position(self):
        existing = self.create(name="E", sku="E-1", regular_price="5.00")
        st, _, out = self.call("POST", P + "/batch", {
            "create": [{"name": "N1", "sku": "N-1", "regular_price": "1.00"},
                       {"name": "N2", "sku": "E-1"},
                       {"name": "N3", "regular_price": 3},
                       {"name": "N4", "sku": "N-4", "images": [{"id": 99999}]}],
            "update": [{"id": existing["id"], "regular_price": "6.00"}, {"id": 424242, "name": "ghost"},
                       {"name": "no id"}],
            "delete": [424243, 0, "abc"]})
        self.assertEqual(st, 200)
        c = out["create"]
        self.assertEqual(c[0]["sku"], "N-1")
        self.assertEqual((c[1]["id"], c[1]["error"]["code"]), (0, "product_invalid_sku"))
        self.assertEqual(c[1]["error"]["data"]["resource_id"], existing["id"])
        self.assertEqual(c[2]["error"]["code"], "rest_invalid_param")
        self.assertEqual(c[3]["error"]["code"], "woocommerce_product_invalid_image_id")
        self.assertEqual(c[3]["error"]["message"], "#99999 is an invalid image ID.")
        u = out["update"]
        self.assertEqual(u[0]["regular_price"], "6.00")
        self.assertEqual((u[1]["id"], u[1]["error"]["code"]), (424242, "woocommerce_rest_product_invalid_id"))
        self.assertEqual(u[2]["error"]["code"], "woocommerce_rest_product_invalid_id")
        self.assertEqual(len(out["delete"]), 1)   # ids that cast to 0 are skipped
        self.assertEqual(out["delete"][0]["error"]["data"]["status"], 404)
        st, _, out = self.call("POST", P + "/batch", {"delete": [existing["id"]]})
        self.assertEqual(out["delete"][0]["id"], existing["id"])
        self.assertNotIn(str(existing["id"]), self.fake.state()["products"])   # force=true, no trash

    def test_batch_limit_413(self):
        st, _, body = self.call("POST", P + "/batch", {"create": [{"name": "x%d" % i} for i in range(60)],
                                                       "delete": list(range(1, 42))})
        self.assertEqual((st, body["code"]), (413, "woocommerce_rest_request_entity_too_large"))
        self.assertEqual(self.fake.state()["products"], {})
        st, _, body = self.call("POST", P + "/batch", {"create": [{"name": "x%d" % i} for i in range(100)]})
        self.assertEqual((st, len(body["create"])), (200, 100))

    def test_images(self):
        p = self.create(name="Img", images=[{"src": "https://cdn.example/a.jpg"}, {"src": "https://cdn.example/b.webp",
                                                                                  "alt": "b"}])
        self.assertEqual(len(p["images"]), 2)
        ids = [i["id"] for i in p["images"]]
        self.assertEqual(self.fake.stats()["image_uploads"], 2)
        q = self.create(name="Reuse", images=[{"id": ids[0]}])
        self.assertEqual(q["images"][0]["id"], ids[0])
        self.assertEqual(self.fake.stats()["image_uploads"], 2)
        self.assertWooError(self.call("POST", P, {"name": "bad", "images": [{"src": "https://cdn.example/a.pdf"}]}),
                            400, "woocommerce_product_image_upload_error")
        self.assertWooError(self.call("POST", P, {"name": "bad", "images": [{"src": "not a url.jpg"}]}),
                            400, "woocommerce_product_image_upload_error")
        body = self.assertWooError(self.call("POST", P, {"name": "bad", "images": [{"id": 777}]}),
                                   400, "woocommerce_product_invalid_image_id")
        self.assertEqual(body["message"], "#777 is an invalid image ID.")
        self.assertEqual(len(self.fake.state()["products"]), 2)

    def test_store_answers_of_issue_15(self):
        # A trashed product holds its SKU for creates (9.3 SKU lock) and is
        # found only with status=trash.
        p = self.create(name="T", sku="TR-1")
        self.assertEqual(self.call("DELETE", P + "/%d" % p["id"])[0], 200)
        self.assertEqual(self.call("GET", P + "?sku=TR-1")[2], [])
        self.assertEqual([x["id"] for x in self.call("GET", P + "?sku=TR-1&status=trash")[2]], [p["id"]])
        self.assertWooError(self.call("POST", P, {"name": "again", "sku": "TR-1"}),
                            400, "woocommerce_rest_product_not_created")
        st, _, back = self.call("PUT", P + "/%d" % p["id"], {"status": "publish"})
        self.assertEqual((st, back["status"]), (200, "publish"))
        # A deleted attachment.
        q = self.create(name="I", images=[{"src": "https://cdn.example/x.jpg"}])
        aid = q["images"][0]["id"]
        self.fake.control("POST", "delete_attachments", {"ids": [aid]})
        body = self.assertWooError(self.call("PUT", P + "/%d" % q["id"], {"images": [{"id": aid}]}),
                                   400, "woocommerce_product_invalid_image_id")
        self.assertEqual(body["message"], "#%d is an invalid image ID." % aid)
        # The store's currency.
        st, _, cur = self.call("GET", "/wp-json/wc/v3/data/currencies/current")
        self.assertEqual((st, cur["code"]), (200, "USD"))
        self.fake.control("POST", "config", {"currency": "EUR", "manage_stock": "no"})
        self.assertEqual(self.call("GET", "/wp-json/wc/v3/data/currencies/current")[2]["code"], "EUR")
        self.assertWooError(self.fake.json("GET", "/wp-json/wc/v3/data/currencies/current"),
                            401, "woocommerce_rest_cannot_view")
        # woocommerce_manage_stock = no: stock_quantity ignored.
        r = self.create(name="S", manage_stock=True, stock_quantity=5)
        self.assertIsNone(r["stock_quantity"])
        # A WAF in front of the store: HTML 406, nothing applied.
        self.fake.add_faults({"match": {"method": "POST"}, "action": "waf"})
        st, hdrs, raw = self.fake.http("POST", P, body=b'{"name":"w"}',
                                       headers=dict(basic(), **{"Content-Type": "application/json"}))
        self.assertEqual(st, 406)
        self.assertIn(b"Mod_Security", raw)
        self.assertFalse(any(x["name"] == "w" for x in self.fake.state()["products"].values()))

    def test_auth_over_tls(self):
        st, _, _ = self.fake.json("GET", P + "?consumer_key=%s&consumer_secret=%s" % (CK, CS))
        self.assertEqual(st, 200)
        self.assertEqual(self.fake.requests()[-1]["query"]["consumer_secret"], "<redacted>")
        res = self.fake.json("GET", P, None, basic(CK, "cs_wrong"))
        body = self.assertWooError(res, 401, "woocommerce_rest_authentication_error")
        self.assertEqual(body["message"], "Consumer secret is invalid.")
        self.assertIn("Basic", res[1]["www-authenticate"])
        self.assertWooError(self.fake.json("GET", P, None, basic("ck_unknown", "x")), 401,
                            "woocommerce_rest_cannot_view")
        self.assertEqual(self.fake.json("GET", P, None, basic(RO_CK, RO_CS))[0], 200)
        body = self.assertWooError(self.fake.json("POST", P, {"name": "x"}, basic(RO_CK, RO_CS)), 401,
                                   "woocommerce_rest_authentication_error")
        self.assertEqual(body["message"], "The API key provided does not have write permissions.")
        self.assertWooError(self.fake.json("POST", P + "/batch", {"create": []}), 401, "woocommerce_rest_cannot_batch")
        self.assertWooError(self.fake.json("DELETE", P + "/5"), 401, "woocommerce_rest_cannot_delete")
        self.assertEqual(self.fake.requests()[-1]["auth_scheme"], None)

    def test_silent_tls_client_does_not_block_others(self):
        idle = socket.create_connection(("127.0.0.1", self.fake.port), timeout=5)   # never handshakes
        self.addCleanup(idle.close)
        st, _, body = self.call("GET", "/?rest_route=/wc/v3/products")
        self.assertEqual(st, 200, body)
        # plain HTTP against the TLS port fails the handshake without hurting the server
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=5)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", P)
            conn.getresponse().read()
        conn.close()
        self.assertEqual(self.call("GET", P)[0], 200)

    def test_no_trash_501(self):
        p = self.create(name="T")
        self.fake.control("POST", "config", {"trash_supported": False})
        self.assertWooError(self.call("DELETE", "%s/%d" % (P, p["id"])), 501, "woocommerce_rest_trash_not_supported")
        self.assertEqual(self.call("DELETE", "%s/%d?force=true" % (P, p["id"]))[0], 200)


class TestWooPlainHTTP(WooBase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeProcess("fake_woo.py", ["--key", CK, "--secret", CS, "--max-body", "100000"])
        cls.addClassCleanup(cls.fake.stop)

    def signed(self, method, path, body=None, query=None, **kw):
        params = oauth_params(method, self.fake.base_url + path, query or {}, **kw)
        return self.fake.json(method, path + "?" + urlencode(params), body)

    def test_basic_over_plain_http_is_anonymous(self):
        self.assertWooError(self.fake.json("GET", P, None, basic()), 401, "woocommerce_rest_cannot_view")
        self.assertWooError(self.fake.json("POST", P, {"name": "x"}, basic()), 401, "woocommerce_rest_cannot_create")
        self.assertWooError(self.fake.json("PUT", P + "/3", {"name": "x"}, basic()), 401, "woocommerce_rest_cannot_edit")
        st, _, body = self.fake.json("GET", P + "/3", None, basic())
        self.assertEqual(body["message"], "Sorry, you cannot view this resource.")

    def test_oauth1_over_plain_http(self):
        st, _, body = self.signed("POST", P, {"name": "OAuth", "sku": "OA-1", "regular_price": "1.00"})
        self.assertEqual(st, 201, body)
        st, _, body = self.signed("GET", P, query={"sku": "OA-1", "per_page": "5"}, algo="HMAC-SHA256")
        self.assertEqual((st, [p["sku"] for p in body]), (200, ["OA-1"]))
        self.assertEqual(self.fake.requests()[-1]["auth"], {"method": "oauth1", "key": CK})
        # header transport
        params = oauth_params("GET", self.fake.base_url + P, {})
        hdr = "OAuth " + ", ".join('%s="%s"' % (k, quote(v, safe="~")) for k, v in params.items())
        self.assertEqual(self.fake.json("GET", P, None, {"Authorization": hdr})[0], 200)
        # replayed nonce, stale timestamp, wrong secret, missing parameter
        params = oauth_params("GET", self.fake.base_url + P, {}, nonce="fixed-nonce")
        self.assertEqual(self.fake.json("GET", P + "?" + urlencode(params))[0], 200)
        body = self.assertWooError(self.fake.json("GET", P + "?" + urlencode(params)), 401,
                                   "woocommerce_rest_authentication_error")
        self.assertIn("nonce", body["message"])
        body = self.assertWooError(self.signed("GET", P, ts=time.time() - 16 * 60), 401,
                                   "woocommerce_rest_authentication_error")
        self.assertEqual(body["message"], "Invalid timestamp.")
        body = self.assertWooError(self.signed("GET", P, cs="cs_wrong"), 401, "woocommerce_rest_authentication_error")
        self.assertIn("signature", body["message"])
        self.assertWooError(self.fake.json("GET", P + "?oauth_consumer_key=" + CK), 401,
                            "woocommerce_rest_authentication_missing_parameter")
        # the plain-permalink form signs the "/" path with rest_route as a parameter
        st, _, body = self.signed("GET", "/", query={"rest_route": "/wc/v3/products"})
        self.assertEqual(st, 200, body)

    def test_faults(self):
        f = self.fake
        f.add_faults({"match": {"method": "GET"}, "action": "http_status", "status": 500,
                      "body": "<html><body>Internal Server Error</body></html>"},
                     {"match": {"method": "GET"}, "action": "rate_limit", "retry_after": 3},
                     {"match": {"method": "GET"}, "action": "error", "code": "internal_server_error", "status": 500},
                     {"match": {"method": "GET"}, "action": "slow", "delay_ms": 250},
                     {"match": {"method": "GET"}, "action": "timeout", "delay_ms": 250})
        st, hdrs, data = self.fake.http("GET", P)
        self.assertEqual((st, hdrs["content-type"].split(";")[0]), (500, "text/html"))
        st, hdrs, data = self.fake.http("GET", P)
        self.assertEqual((st, hdrs["retry-after"]), (429, "3"))
        self.assertWooError(self.fake.json("GET", P), 500, "internal_server_error")
        t0 = time.monotonic()
        self.assertEqual(self.signed("GET", P)[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.23)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.fake.http("GET", P)
        self.assertEqual(self.fake.stats()["faults_applied"],
                         {"http_status": 1, "rate_limit": 1, "error": 1, "slow": 1, "timeout": 1})

    def test_drop_response_applies_the_write(self):
        self.fake.add_faults({"match": {"method": "POST", "path_re": "products$"}, "action": "drop_response"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.signed("POST", P, {"name": "Lost answer", "sku": "DR-1"})
        st, _, found = self.signed("GET", P, query={"sku": "DR-1"})
        self.assertEqual([p["name"] for p in found], ["Lost answer"])

    def test_item_error_in_batch(self):
        self.fake.add_faults({"match": {"path_re": "products/batch$"}, "action": "item_error", "sku": "IE-2",
                              "code": "woocommerce_product_image_upload_error", "message": "boom", "status": 400})
        st, _, out = self.signed("POST", P + "/batch", {"create": [{"name": "1", "sku": "IE-1"},
                                                                   {"name": "2", "sku": "IE-2"}]})
        self.assertEqual(st, 200)
        self.assertEqual(out["create"][0]["sku"], "IE-1")
        self.assertEqual(out["create"][1], {"id": 0, "error": {"code": "woocommerce_product_image_upload_error",
                                                               "message": "boom", "data": {"status": 400}}})
        self.assertEqual(self.fake.control("GET", "faults")["faults"], [])

    def test_item_error_by_sku_never_hits_a_product_by_number(self):
        # A fault's own sequence number must not be read as the product id it
        # targets: an item_error for one SKU leaves every other product alone.
        st, _, made = self.signed("POST", P, {"name": "Bystander", "sku": "BY-1"})
        self.assertEqual(st, 201)
        pid = made["id"]
        seq = self.fake.add_faults({"action": "item_error", "sku": "NOPE-0",
                                    "count": 100})["added"][0]["fault_id"]
        if seq < pid:
            self.fake.add_faults(*[{"action": "item_error", "sku": "NOPE-%d" % k, "count": 100}
                                   for k in range(1, pid - seq + 1)])
        self.assertIn(pid, [f["fault_id"] for f in self.fake.control("GET", "faults")["faults"]])
        st, _, out = self.signed("POST", P + "/batch", {"update": [{"id": pid, "name": "Still fine"}]})
        self.assertEqual(st, 200)
        self.assertEqual(out["update"][0].get("name"), "Still fine", out)

    def test_body_cap_and_non_rest_path(self):
        st, hdrs, data = self.fake.http("POST", P, b"{" + b" " * 200000 + b"}", {"Content-Type": "application/json"})
        self.assertEqual(st, 413)
        st, hdrs, data = self.fake.http("GET", "/wc/v3/products")
        self.assertEqual((st, hdrs["content-type"].split(";")[0]), (404, "text/html"))
        st, _, body = self.fake.json("GET", "/wp-json/wc/v3/orders")
        self.assertEqual(body["code"], "rest_no_route")


if __name__ == "__main__":
    unittest.main()
