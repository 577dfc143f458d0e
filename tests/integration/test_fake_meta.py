"""Tests of tests/fakes/fake_meta.py (the fake Meta Graph API).

Run: cd /work/main && /usr/bin/python3 -m unittest discover -s tests/integration -p 'test_fake_*.py' -v
"""
import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from urllib.parse import quote, urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
from fakeproc import FakeProcess, PYTHON, FAKES_DIR  # noqa: E402

TOKEN = "tok-good"
CAT = "1234567890"
V = "/v25.0"
AUTH = {"Authorization": "Bearer " + TOKEN}


def full_item(rid, **over):
    data = {"id": rid, "title": "Mug " + rid, "description": "A blue mug", "availability": "in stock",
            "condition": "new", "price": "10.00 USD", "link": "https://shop.example/p/" + rid,
            "brand": "Acme", "visibility": "published", "sale_price": "",
            "image_link": "https://shop.example/i/%s.jpg" % rid}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}      # None: the field left out


class MetaFakeBase(unittest.TestCase):
    ARGS = ["--token", TOKEN, "--token", "tok-other", "--catalog", CAT, "--polls-per-state", "1"]

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeProcess("fake_meta.py", cls.ARGS)
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self):
        self.fake.reset()

    def batch(self, requests, headers=AUTH, **params):
        body = {"item_type": "PRODUCT_ITEM", "requests": requests}
        body.update(params)
        return self.fake.json("POST", "%s/%s/items_batch" % (V, CAT), body, headers)

    def poll(self, handle, load_ids=False, extra=""):
        q = "handle=%s%s%s" % (quote(handle), "&load_ids_of_invalid_requests=true" if load_ids else "", extra)
        status, _, body = self.fake.json("GET", "%s/%s/check_batch_request_status?%s" % (V, CAT, q), None, AUTH)
        self.assertEqual(status, 200, body)
        return body["data"][0]

    def poll_until_done(self, handle, load_ids=False):
        for _ in range(20):
            view = self.poll(handle, load_ids)
            if view["status"] in ("finished", "error"):
                return view
        self.fail("handle never finished")

    def items(self):
        return self.fake.state()["catalogs"][CAT]["items"]

    def assertGraphError(self, status, body, code, subcode=None, http_status=400):
        self.assertEqual(status, http_status, body)
        err = body["error"]
        self.assertEqual(err["code"], code, err)
        for k in ("message", "type", "fbtrace_id", "is_transient"):
            self.assertIn(k, err)
        if subcode is None:
            self.assertNotIn("error_subcode", err)
        else:
            self.assertEqual(err["error_subcode"], subcode)
        return err


class TestItemsBatch(MetaFakeBase):
    def test_accepted_progresses_and_applies_only_when_finished(self):
        status, hdrs, body = self.batch([{"method": "UPDATE", "data": full_item("SKU-1")},
                                         {"method": "UPDATE", "data": full_item("SKU-2")}])
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["handles"]), 1)
        self.assertEqual(body["validation_status"], [])
        buc = json.loads(hdrs["x-business-use-case-usage"])
        self.assertEqual(list(buc), [CAT])
        self.assertEqual(buc[CAT][0]["type"], "catalog_batch")
        self.assertIn("estimated_time_to_regain_access", buc[CAT][0])
        h = body["handles"][0]
        seen = []
        for _ in range(3):
            view = self.poll(h)
            seen.append(view["status"])
            self.assertEqual(self.items(), {})   # nothing visible before finished
            st, _, prods = self.fake.json("GET", '%s/%s/products?filter=%s' % (
                V, CAT, quote(json.dumps({"retailer_id": {"eq": "SKU-1"}}))), None, AUTH)
            self.assertEqual(prods["data"], [])
        self.assertEqual(seen, ["scheduled", "dispatched", "started"])
        view = self.poll(h)
        self.assertEqual(view["status"], "finished")
        self.assertEqual(view["errors_total_count"], 0)
        self.assertEqual(sorted(self.items()), ["SKU-1", "SKU-2"])
        st, _, prods = self.fake.json("GET", '%s/%s/products?filter=%s&fields=id,retailer_id,name,price&summary=true'
                                      % (V, CAT, quote(json.dumps({"retailer_id": {"eq": "SKU-1"}}))), None, AUTH)
        self.assertEqual(st, 200)
        self.assertEqual(len(prods["data"]), 1)
        self.assertEqual(prods["data"][0]["retailer_id"], "SKU-1")
        self.assertEqual(prods["data"][0]["id"], self.items()["SKU-1"]["item_id"])
        self.assertEqual(prods["summary"]["total_count"], 1)
        # UPDATE of an existing item merges the sent fields
        status, _, body = self.batch([{"method": "UPDATE", "data": {"id": "SKU-1", "price": "12.50 USD"}},
                                      {"method": "DELETE", "data": {"id": "SKU-2"}},
                                      {"method": "DELETE", "data": {"id": "NEVER-EXISTED"}}])
        view = self.poll_until_done(body["handles"][0])
        self.assertEqual(view["errors_total_count"], 0)
        items = self.items()
        self.assertEqual(sorted(items), ["SKU-1"])
        self.assertEqual(items["SKU-1"]["fields"]["price"], "12.50 USD")
        self.assertEqual(items["SKU-1"]["fields"]["title"], "Mug SKU-1")

    def test_form_encoded_body_with_requests_as_json_string(self):
        form = urlencode({"item_type": "PRODUCT_ITEM", "access_token": TOKEN, "allow_upsert": "true",
                          "requests": json.dumps([{"method": "UPDATE", "data": full_item("F-1")}])})
        status, _, body = self.fake.json("POST", "%s/%s/items_batch" % (V, CAT), form,
                                         {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.poll_until_done(body["handles"][0])["errors_total_count"], 0)
        rec = self.fake.requests("items_batch")[-1]
        self.assertEqual(rec["form"]["access_token"], "<redacted>")
        self.assertEqual(rec["auth_scheme"], None)

    def test_duplicate_retailer_id(self):
        status, _, body = self.batch([{"method": "UPDATE", "data": full_item("185")},
                                      {"method": "UPDATE", "data": full_item("185", title="Other")},
                                      {"method": "UPDATE", "data": full_item("186")}])
        self.assertEqual(status, 200)
        self.assertEqual(body["validation_status"], [
            {"retailer_id": "185", "errors": [{"message": "Duplicate retailer_id in batch api call - 185."}],
             "warnings": []}])
        self.poll_until_done(body["handles"][0])
        self.assertEqual(self.items()["185"]["fields"]["title"], "Mug 185")
        self.assertIn("186", self.items())

    def test_price_decimals_per_currency(self):
        ok = [full_item("J-OK", price="1500 JPY"), full_item("K-OK", price="1.250 KWD"),
              full_item("U-OK", price="9.9 USD", sale_price="8.00 USD")]
        bad = [full_item("J-BAD", price="1500.5 JPY"), full_item("K-BAD", price="1.2345 KWD"),
               full_item("U-BAD", price="9.999 USD"), full_item("FMT", price="9.99"),
               full_item("CUR", price="9.99 XYZ"), full_item("NUM", price=9.99),
               full_item("SALE", sale_price="1,00 EUR")]
        status, _, body = self.batch([{"method": "UPDATE", "data": d} for d in ok + bad])
        self.assertEqual(status, 200)
        rejected = {v["retailer_id"]: v["errors"][0]["message"] for v in body["validation_status"]}
        self.assertEqual(sorted(rejected), sorted(d["id"] for d in bad))
        self.assertIn("JPY", rejected["J-BAD"])
        self.assertIn("KWD", rejected["K-BAD"])
        self.poll_until_done(body["handles"][0])
        self.assertEqual(sorted(self.items()), ["J-OK", "K-OK", "U-OK"])

    def test_sync_field_checks(self):
        bad = [full_item("A1", availability="in_stock"), full_item("A2", condition="mint"),
               full_item("A3", visibility="public"), full_item("A4", title="x" * 201),
               full_item("A5", description="<p>bold</p>"), full_item("A6", description="y" * 5001),
               full_item("A7", link="ftp://x/y"), full_item("A8", additional_image_link=["https://i/%d.jpg" % i
                                                                                         for i in range(21)]),
               full_item("A9", retailer_id="A9"), full_item("x" * 101)]
        status, _, body = self.batch([{"method": "UPDATE", "data": d} for d in bad]
                                     + [{"method": "UPDATE", "data": full_item("GOOD", unknown_field=1)}])
        self.assertEqual(len(body["validation_status"]), len(bad))
        self.assertEqual(len(body["handles"]), 1)
        status, _, body = self.batch([{"method": "UPDATE", "data": full_item("B1", price="1 EURO")}])
        self.assertEqual(body["handles"], [])   # nothing accepted: no handle

    def test_missing_required_field_and_ids_of_invalid_requests(self):
        status, _, body = self.batch([{"method": "UPDATE", "data": full_item("OK-1")},
                                      {"method": "UPDATE", "data": {"id": "retailer-4", "title": "No availability",
                                                                    "description": "d", "condition": "new",
                                                                    "price": "1.00 USD", "link": "https://x/4",
                                                                    "brand": "B"}}])
        self.assertEqual(body["validation_status"], [])
        h = body["handles"][0]
        view = self.poll_until_done(h)
        self.assertEqual(view["status"], "finished")
        self.assertEqual(view["errors_total_count"], 1)
        self.assertEqual(view["errors"][0]["line"], 1)
        self.assertEqual(view["errors"][0]["id"], "retailer-4")
        self.assertEqual(view["errors"][0]["message"], "cannot create retailer-4 without required field Availability")
        self.assertEqual(view["ids_of_invalid_requests"], [])
        view = self.poll(h, load_ids=True)
        self.assertEqual(view["ids_of_invalid_requests"], ["retailer-4"])
        self.assertEqual(sorted(self.items()), ["OK-1"])
        view = self.poll(h, extra="&fields=status,errors_total_count")
        self.assertEqual(view, {"status": "finished", "errors_total_count": 1})

    def test_upsert_false_and_sample_limit(self):
        recs = [{"method": "UPDATE", "data": {"id": "U%d" % i, "price": "1.00 USD"}} for i in range(7)]
        status, _, body = self.batch(recs, allow_upsert=False)
        view = self.poll_until_done(body["handles"][0], load_ids=True)
        self.assertEqual(view["errors_total_count"], 7)
        self.assertEqual(len(view["errors"]), 5)
        self.assertEqual(len(view["ids_of_invalid_requests"]), 7)
        self.assertIn("allow_upsert", view["errors"][0]["message"])

    def test_call_level_errors(self):
        st, _, body = self.fake.json("POST", "%s/%s/items_batch" % (V, CAT), {"requests": []}, AUTH)
        self.assertGraphError(st, body, 100)
        st, _, body = self.fake.json("POST", "%s/%s/items_batch" % (V, CAT),
                                     {"item_type": "HOTEL", "requests": [{"method": "UPDATE", "data": {"id": "1"}}]},
                                     AUTH)
        self.assertGraphError(st, body, 100)
        st, _, body = self.batch([])
        self.assertGraphError(st, body, 100)
        st, _, body = self.batch([{"method": "UPSERT", "data": {"id": "1"}}])
        self.assertGraphError(st, body, 100)
        st, _, body = self.batch([{"method": "DELETE", "data": {"id": str(i)}} for i in range(5001)])
        self.assertGraphError(st, body, 100)
        st, _, body = self.fake.json("GET", "%s/%s/check_batch_request_status?handle=nope" % (V, CAT), None, AUTH)
        self.assertGraphError(st, body, 100)
        st, _, body = self.fake.json("GET", "/%s/items_batch" % CAT, None, AUTH)
        err = self.assertGraphError(st, body, 100)
        self.assertIn("Unknown path components", err["message"])

    def test_unknown_catalog(self):
        st, _, body = self.fake.json("POST", "%s/999/items_batch" % V,
                                     {"item_type": "PRODUCT_ITEM", "requests": [{"method": "DELETE",
                                                                                 "data": {"id": "1"}}]}, AUTH)
        err = self.assertGraphError(st, body, 100, subcode=33)
        self.assertTrue(err["message"].startswith(
            "Unsupported post request. Object with ID '999' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation"), err["message"])

    def test_auth_failures(self):
        st, hdrs, body = self.batch([{"method": "DELETE", "data": {"id": "1"}}], headers={})
        err = self.assertGraphError(st, body, 190)
        self.assertEqual(err["type"], "OAuthException")
        self.assertIs(err["is_transient"], False)
        self.assertIn("x-business-use-case-usage", hdrs)
        st, _, body = self.batch([{"method": "DELETE", "data": {"id": "1"}}],
                                 headers={"Authorization": "Bearer wrong"})
        self.assertGraphError(st, body, 190)
        st, _, body = self.fake.json("GET", "%s/%s/products?access_token=tok-other" % (V, CAT))
        self.assertEqual(st, 200, body)
        self.fake.control("POST", "expire_token", {"token": "tok-other"})
        st, _, body = self.fake.json("GET", "%s/%s/products?access_token=tok-other" % (V, CAT))
        self.assertGraphError(st, body, 190, subcode=463)
        rec = self.fake.requests("products")[-1]
        self.assertEqual(rec["query"]["access_token"], "<redacted>")

    def test_usage_headers_and_throttle_from_usage(self):
        self.fake.control("POST", "usage", {"type": "catalog_batch", "call_count": 100,
                                            "estimated_time_to_regain_access": 3})
        st, hdrs, body = self.batch([{"method": "DELETE", "data": {"id": "1"}}])
        err = self.assertGraphError(st, body, 80014)
        self.assertTrue(err["is_transient"])
        buc = json.loads(hdrs["x-business-use-case-usage"])
        self.assertEqual(buc[CAT][0]["estimated_time_to_regain_access"], 3)
        st, _, _ = self.fake.json("GET", "%s/%s/products" % (V, CAT), None, AUTH)
        self.assertEqual(st, 200)   # catalog_management usage is separate
        self.fake.control("POST", "usage", {"headers": False, "call_count": 0})
        st, hdrs, _ = self.batch([{"method": "DELETE", "data": {"id": "1"}}])
        self.assertEqual(st, 200)
        self.assertNotIn("x-business-use-case-usage", hdrs)


class TestFaults(MetaFakeBase):
    def one(self):
        return [{"method": "UPDATE", "data": full_item("F1")}]

    def test_http_status_with_html(self):
        self.fake.add_faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                              "action": "http_status", "status": 502, "body": "<html>Bad Gateway</html>",
                              "headers": {"Retry-After": "7"}})
        self.assertEqual(len(self.fake.control("GET", "faults")["faults"]), 1)
        st, hdrs, data = self.fake.http("POST", "%s/%s/items_batch" % (V, CAT),
                                        {"item_type": "PRODUCT_ITEM", "requests": self.one()}, AUTH)
        self.assertEqual((st, data, hdrs["retry-after"]), (502, b"<html>Bad Gateway</html>", "7"))
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assertEqual(self.fake.control("GET", "faults")["faults"], [])
        st, _, body = self.batch(self.one())
        self.assertEqual(st, 200)
        self.assertEqual(self.fake.stats()["faults_applied"], {"http_status": 1})

    def test_rate_limit(self):
        self.fake.add_faults({"match": {"path_re": "items_batch$"}, "action": "rate_limit", "code": 80014,
                              "estimated_time_to_regain_access": 5, "count": 2})
        for _ in range(2):
            st, hdrs, body = self.batch(self.one())
            err = self.assertGraphError(st, body, 80014)
            self.assertTrue(err["is_transient"])
            usage = json.loads(hdrs["x-business-use-case-usage"])[CAT][0]
            self.assertEqual((usage["call_count"], usage["estimated_time_to_regain_access"]), (100, 5))
        self.assertEqual(self.batch(self.one())[0], 200)

    def test_error_envelope(self):
        self.fake.add_faults({"action": "error", "code": 2, "match": {"method": "GET"}},
                             {"action": "error", "code": 190, "subcode": 467, "message": "logged out",
                              "match": {"path_re": "items_batch"}})
        st, _, body = self.fake.json("GET", "%s/%s/products" % (V, CAT), None, AUTH)
        err = self.assertGraphError(st, body, 2, http_status=500)
        self.assertTrue(err["is_transient"])
        st, _, body = self.batch(self.one())
        err = self.assertGraphError(st, body, 190, subcode=467)
        self.assertEqual(err["message"], "logged out")

    def test_timeout_closes_without_applying(self):
        self.fake.add_faults({"match": {"path_re": "items_batch$"}, "action": "timeout", "delay_ms": 300})
        t0 = time.monotonic()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.batch(self.one())
        self.assertGreaterEqual(time.monotonic() - t0, 0.28)
        self.assertEqual(self.fake.state()["handles"], {})
        rec = self.fake.requests("items_batch")[-1]
        self.assertEqual((rec["fault"], rec["status"]), ("timeout", None))

    def test_slow(self):
        self.fake.add_faults({"match": {"path_re": "products$"}, "action": "slow", "delay_ms": 300})
        t0 = time.monotonic()
        st, _, _ = self.fake.json("GET", "%s/%s/products" % (V, CAT), None, AUTH)
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.28)

    def test_drop_response_applies_the_write(self):
        self.fake.add_faults({"match": {"method": "POST", "path_re": "items_batch$"}, "action": "drop_response"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.batch(self.one())
        handles = self.fake.state()["handles"]
        self.assertEqual(len(handles), 1)
        self.fake.control("POST", "settle", {})
        self.assertIn("F1", self.items())

    def test_item_error_is_async(self):
        self.fake.add_faults({"match": {"path_re": "items_batch$"}, "action": "item_error",
                              "retailer_id": "F1", "message": "Image could not be downloaded"})
        st, _, body = self.batch(self.one() + [{"method": "UPDATE", "data": full_item("F2")}])
        self.assertEqual(body["validation_status"], [])
        view = self.poll_until_done(body["handles"][0], load_ids=True)
        self.assertEqual(view["errors"], [{"line": 0, "id": "F1", "message": "Image could not be downloaded"}])
        self.assertEqual(view["ids_of_invalid_requests"], ["F1"])
        self.assertEqual(sorted(self.items()), ["F2"])
        self.assertEqual(self.fake.control("GET", "faults")["faults"], [])

    def test_batch_error(self):
        self.fake.add_faults({"match": {"path_re": "items_batch$"}, "action": "batch_error"})
        st, _, body = self.batch(self.one())
        self.assertEqual(st, 200)
        view = self.poll_until_done(body["handles"][0])
        self.assertEqual(view["status"], "error")
        self.assertEqual(self.items(), {})

    def test_control_api_records_and_reset(self):
        self.batch(self.one())
        self.fake.json("GET", "%s/%s/products" % (V, CAT), None, AUTH)
        recs = self.fake.requests()
        self.assertEqual([r["route"] for r in recs], ["POST items_batch", "GET products"])
        self.assertEqual(recs[0]["auth_scheme"], "Bearer")
        self.assertNotIn("Authorization", recs[0]["headers"])
        self.assertEqual(recs[0]["json"]["item_type"], "PRODUCT_ITEM")
        self.assertEqual(len(self.fake.requests("items_batch")), 1)
        stats = self.fake.stats()
        self.assertEqual(stats["requests_by_route"], {"POST items_batch": 1, "GET products": 1})
        self.assertEqual(stats["records_received"], 1)
        st, _, body = self.fake.json("POST", "/_fake/faults", {"faults": [{"action": "explode"}]})
        self.assertEqual(st, 400)
        self.fake.reset()
        self.assertEqual(self.fake.requests(), [])
        self.assertEqual(self.fake.state()["handles"], {})


class TestWholeCallErrorsWarningsVersions(MetaFakeBase):
    def test_catalog_outage_then_recovery(self):
        for error, code, sub in (("missing", 100, 33), ("disallowed", 368, None)):
            self.fake.control("POST", "catalog_outage", {"catalog": CAT, "error": error, "calls": 2})
            for _ in range(2):
                st, _, body = self.batch([{"method": "UPDATE", "data": full_item("O1")}])
                self.assertGraphError(st, body, code, sub)
            st, _, body = self.batch([{"method": "UPDATE", "data": full_item("O1")}])
            self.assertEqual(st, 200, body)

    def test_update_of_existing_item_needs_no_image(self):
        h = self.batch([{"method": "UPDATE", "data": full_item("I1")},
                        {"method": "UPDATE", "data": full_item("I2", image_link=None)}])[2]["handles"][0]
        view = self.poll_until_done(h, load_ids=True)
        self.assertEqual(view["ids_of_invalid_requests"], ["I2"])
        self.assertIn("without required field Image Link", view["errors"][0]["message"])
        h = self.batch([{"method": "UPDATE", "data": full_item("I1", image_link=None)}])[2]["handles"][0]
        self.assertEqual(self.poll_until_done(h)["errors_total_count"], 0)

    def test_errors_are_a_sample_and_warnings(self):
        self.fake.add_faults(*[{"action": "item_error", "retailer_id": "E%d" % i} for i in range(7)],
                             {"action": "item_warning", "retailer_id": "W1", "message": "Field x not applied"})
        reqs = [{"method": "UPDATE", "data": full_item("E%d" % i)} for i in range(7)]
        h = self.batch(reqs + [{"method": "UPDATE", "data": full_item("W1")}])[2]["handles"][0]
        view = self.poll_until_done(h, load_ids=True)
        self.assertEqual((len(view["errors"]), view["errors_total_count"]), (5, 7))
        self.assertEqual(view["ids_of_invalid_requests"], ["E%d" % i for i in range(7)])
        self.assertEqual(view["warnings"], [{"line": 7, "id": "W1", "message": "Field x not applied"}])
        self.assertEqual(view["warnings_total_count"], 1)
        self.assertIn("W1", self.items())

    def test_too_much_data_and_expired_version(self):
        big = full_item("B1", description="x" * 5000)
        body = {"item_type": "PRODUCT_ITEM", "requests": [{"method": "UPDATE", "data": big}] * 1}
        fake = FakeProcess("fake_meta.py", ["--token", TOKEN, "--catalog", CAT, "--max-payload", "3000",
                                            "--today", "2027-02-01"])
        self.addCleanup(fake.stop)
        st, _, out = fake.json("POST", "%s/%s/items_batch" % (V, CAT), body, AUTH)
        self.assertEqual((st, out["error"]["code"]), (500, 1))
        self.assertIn("Please reduce the amount of data", out["error"]["message"])
        st, hdrs, _ = fake.json("GET", "/v21.0/%s/products" % CAT, None, AUTH)
        self.assertEqual(dict((k.lower(), v) for k, v in hdrs.items())["facebook-api-version"], "v22.0")
        st, hdrs, _ = fake.json("GET", "/v25.0/%s/products" % CAT, None, AUTH)
        self.assertEqual(dict((k.lower(), v) for k, v in hdrs.items())["facebook-api-version"], "v25.0")


class TestAppSecretProofAndProcess(unittest.TestCase):
    def test_appsecret_proof(self):
        fake = FakeProcess("fake_meta.py", ["--token", TOKEN, "--app-secret", "s3cret", "--catalog", CAT,
                                            "--polls-per-state", "0"])
        self.addCleanup(fake.stop)
        path = "%s/%s/products" % (V, CAT)
        st, _, body = fake.json("GET", path, None, AUTH)
        self.assertEqual(body["error"]["code"], 100)
        st, _, body = fake.json("GET", path + "?appsecret_proof=deadbeef", None, AUTH)
        self.assertEqual((st, body["error"]["code"], body["error"]["message"]),
                         (400, 100, "Invalid appsecret_proof provided in the API argument"))
        proof = hmac.new(b"s3cret", TOKEN.encode(), hashlib.sha256).hexdigest()
        st, _, body = fake.json("GET", path + "?appsecret_proof=" + proof, None, AUTH)
        self.assertEqual(st, 200, body)
        # image_link required (the default) and --polls-per-state 0: finished at the first poll
        st, _, body = fake.json("POST", "%s/%s/items_batch?appsecret_proof=%s" % (V, CAT, proof),
                                {"item_type": "PRODUCT_ITEM", "requests": [{"method": "UPDATE",
                                                                            "data": full_item("N", image_link=None)}]}, AUTH)
        st, _, cb = fake.json("GET", "%s/%s/check_batch_request_status?handle=%s&appsecret_proof=%s"
                              % (V, CAT, body["handles"][0], proof), None, AUTH)
        self.assertEqual(cb["data"][0]["status"], "finished")
        self.assertEqual(cb["data"][0]["errors"][0]["message"], "cannot create N without required field Image Link")

    def test_batch_ms_finishes_on_its_own_clock(self):
        # --batch-ms 600: however often it is polled, a batch stays started
        # until 600 ms after it was accepted; then it finishes and applies.
        fake = FakeProcess("fake_meta.py", ["--token", TOKEN, "--catalog", CAT,
                                            "--polls-per-state", "0", "--batch-ms", "600"])
        self.addCleanup(fake.stop)
        st, _, body = fake.json("POST", "%s/%s/items_batch" % (V, CAT),
                                {"item_type": "PRODUCT_ITEM",
                                 "requests": [{"method": "UPDATE", "data": full_item("S1")}]}, AUTH)
        accepted = time.monotonic()
        path = "%s/%s/check_batch_request_status?handle=%s" % (V, CAT, quote(body["handles"][0]))
        seen = set()
        while True:
            st, _, cb = fake.json("GET", path, None, AUTH)
            status = cb["data"][0]["status"]
            if status == "finished":
                break
            self.assertLess(time.monotonic() - accepted, 10, "never finished")
            self.assertEqual(status, "started")
            self.assertEqual(fake.state()["catalogs"][CAT]["items"], {})
            seen.add(status)
            time.sleep(0.05)        # the poll interval
        self.assertGreaterEqual(time.monotonic() - accepted, 0.6)
        self.assertEqual(seen, {"started"})
        self.assertIn("S1", fake.state()["catalogs"][CAT]["items"])

    def test_body_cap_413_port_file_and_sigterm(self):
        with tempfile.TemporaryDirectory() as tmp:
            pf = os.path.join(tmp, "port")
            proc = subprocess.Popen([PYTHON, os.path.join(FAKES_DIR, "fake_meta.py"), "--port", "0",
                                     "--port-file", pf, "--max-body", "2000", "--token", TOKEN],
                                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
            self.addCleanup(proc.stdout.close)
            line = proc.stdout.readline().decode()
            self.assertRegex(line, r"^LISTENING=127\.0\.0\.1:\d+\n$")
            port = int(line.strip().rsplit(":", 1)[1])
            with open(pf) as fh:
                self.assertEqual(int(fh.read()), port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "%s/%s/items_batch" % (V, CAT), body=b"x" * 5000,
                         headers={"Content-Type": "application/json"})
            self.assertEqual(conn.getresponse().status, 413)
            conn.close()
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(5), 0)


if __name__ == "__main__":
    unittest.main()
