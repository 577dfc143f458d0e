"""catalogsyncctl against state produced by real worker runs: a meta worker
pushing to the fake Graph API through the dev broker and a real redis-server."""
import http.server
import json
import os
import threading
import unittest

from harness import program, run, wait_until
from test_meta_worker import TOKEN, MetaStack, product

FORGED_TS = "2026-01-01T00:00:00.000Z"


class CtlTest(unittest.TestCase):
    def stack(self, schedule="60000, 60000, 60000, 60000", **catalog):
        self.s = MetaStack(self, schedule=schedule)
        self.w = self.s.worker(**catalog)
        return self.s

    def ctl(self, *args, env=None, want=0):
        e = {"NO_COLOR": "1", "CS_META_TOKEN": TOKEN}
        e.update(env or {})
        r = run([program("catalogsyncctl"), "--config", self.w.conf] + list(args), env=e)
        if want is not None:
            self.assertEqual(r.returncode, want, "ctl %s: %s\n%s" % (args, r.stdout, r.stderr))
        return r

    def three_states(self):
        """p1 synced, p2 failed (rejected by Meta), p3 waiting for a retry."""
        s = self.stack()
        s.meta.faults({"action": "item_error", "retailer_id": "SKU-2", "count": 1000,
                       "message": "(#10801) Image URL not accessible"})
        s.publish([product(1), product(2)], "--type", "updated")
        s.wait_status("p1", "synced")
        s.wait_status("p2", "failed")
        s.meta.faults({"match": {"method": "POST", "path_re": "items_batch$"}, "count": 1,
                       "action": "error", "code": 2, "message": "Service temporarily unavailable"})
        s.publish([product(3)], "--type", "updated")
        s.wait_status("p3", "retry_pending")
        return s

    def test_status_shows_the_seed_colour_codes_and_totals(self):
        self.three_states()
        out = self.ctl("status").stdout
        rows = {line.split()[2]: line for line in out.splitlines() if line.startswith("meta ")}
        self.assertIn("✓ Synced", rows["default:p1"])
        self.assertIn("✗ Failed (rejected)", rows["default:p2"])
        self.assertIn("Image URL not accessible", rows["default:p2"])
        self.assertIn("⚠ Retry pending (1/5)", rows["default:p3"])
        self.assertRegex(rows["default:p3"], r"in ([1-5]?[0-9]s|1m00s)")
        self.assertIn("Service temporarily unavailable", rows["default:p3"])
        self.assertIn("3 products: ✓ 1 synced, ⚠ 1 retry pending, ✗ 1 failed", out)
        self.assertNotIn("\033[", out)          # NO_COLOR (and not a terminal)
        failed = self.ctl("status", "--state", "failed", "--json").stdout
        doc = json.loads(failed)
        self.assertEqual([p["product"] for p in doc["products"]], ["default:p2"])
        self.assertEqual(doc["products"][0]["last_error_message"],
                         "(#10801) Image URL not accessible")
        self.assertEqual(doc["totals"]["failed"], 1)
        self.assertEqual(self.ctl("status", "--state", "nonsense", want=64).returncode, 64)

    def test_show_stats_and_queue(self):
        self.three_states()
        out = self.ctl("show", "p3").stdout
        self.assertIn("⚠ Retry pending (1/5)", out)
        self.assertIn("last error code    2", out)
        self.assertIn("Service temporarily unavailable", out)
        self.assertIn("last attempts:", out)
        self.assertRegex(out, r"v1\s+retry\s+attempt 1\s+2: Service temporarily unavailable")
        shown = json.loads(self.ctl("show", "default:p2", "--json").stdout)
        st = shown["connections"][0]["state"]
        self.assertEqual((st["status"], st["sku"]), ("failed", "SKU-2"))
        self.assertEqual(shown["connections"][0]["history"][0]["outcome"], "failed")
        r = self.ctl("show", "nope", want=2)
        self.assertIn("no state", r.stdout)

        stats = json.loads(self.ctl("stats", "--json").stdout)["connections"][0]
        self.assertEqual(stats["counts"], {"synced": 1, "pending": 0, "retry_pending": 1,
                                           "failed": 1, "skipped": 0})
        self.assertEqual((stats["last_hour"]["synced"], stats["last_hour"]["failed"],
                          stats["last_hour"]["retry"]), (1, 1, 1))
        # The oldest out-of-date product is the failed one (seen first).
        self.assertEqual(stats["oldest_pending"]["product"], "default:p2")
        text = self.ctl("stats").stdout
        self.assertIn("meta main: 3 products", text)
        self.assertIn("last hour: 1 synced, 1 retried, 1 failed", text)

        q = self.ctl("queue").stdout
        self.assertIn("meta: 1 waiting retries, 0 due now, 0 in flight", q)
        self.assertRegex(q, r"main\s+default:p3\s+in ([1-5]?[0-9]s|1m00s)")
        self.assertIn("no connection paused", q)
        self.assertNotIn("default:p3", self.ctl("queue", "--due").stdout)   # not due yet

    def test_reset_failed_pushes_the_stored_version_again(self):
        s = self.three_states()
        def pushes_of_p2():
            return len([r for r in s.batch_records() if r["data"].get("id") == "SKU-2"])
        self.assertEqual(pushes_of_p2(), 1)
        s.meta.call("DELETE", "/_fake/faults")   # the operator fixed the images
        out = self.ctl("reset", "--failed").stdout
        self.assertIn("1 reset and queued", out)
        # No new event: the worker pushes the stored snapshot.
        st = s.wait_status("p2", "synced", timeout=30)
        self.assertEqual(st["attempts"], "1")
        self.assertEqual(pushes_of_p2(), 2)
        self.assertIn("SKU-2", s.items())
        # Named products: p3 is due at once too; an unknown one says so.
        self.assertIn("1 reset", self.ctl("reset", "p3").stdout)
        s.wait_status("p3", "synced", timeout=30)
        r = self.ctl("reset", "p404", want=2)
        self.assertIn("0 reset and queued for an immediate retry, 1 unknown", r.stdout)
        self.ctl("reset", want=64)
        self.ctl("reset", "p1", "--failed", want=64)

    def test_pause_and_resume_a_catalog(self):
        s = self.stack(schedule="100, 200, 400, 800")
        self.assertIn("1 connection paused", self.ctl("pause", "main", "--reason", "maintenance").stdout)
        s.publish([product(4)], "--type", "updated")
        st = wait_until(lambda: s.state("p4").get("status") == "retry_pending" and s.state("p4"),
                        what="p4 parked by the pause")
        self.assertEqual(st["attempts"], "0")     # a pause is never charged
        self.assertIn("paused (operator)", st["last_error_message"])
        self.assertEqual(s.batch_records(), [])
        q = self.ctl("queue").stdout
        self.assertIn("PAUSED meta main (operator) until resumed: maintenance", q)
        out = self.ctl("resume", "main").stdout
        self.assertIn("1 connection resumed; 1 parked retry due now", out)
        s.wait_status("p4", "synced", timeout=20)
        self.assertIn("was not paused", self.ctl("resume", "main").stdout)
        self.ctl("pause", "nosuch", want=64)

    def test_exclude_keeps_a_product_out_until_included(self):
        s = self.stack(schedule="100, 200, 400, 800")
        self.assertIn("excluded at 1 connection", self.ctl("exclude", "p5").stdout)
        s.publish([product(5), product(6)], "--type", "updated")
        s.wait_status("p6", "synced")
        st = s.wait_status("p5", "skipped")
        self.assertEqual(st["skip_reason"], "excluded by an operator")
        self.assertNotIn("SKU-5", s.items())
        self.assertIn("excluded by an operator", self.ctl("show", "p5").stdout)
        out = self.ctl("include", "p5").stdout
        self.assertIn("1 queued for an immediate push", out)
        s.wait_status("p5", "synced", timeout=20)
        self.assertIn("SKU-5", s.items())

    def test_doctor_names_each_problem_and_its_fix(self):
        s = self.s = MetaStack(self, schedule="60000, 60000, 60000, 60000")
        self.w = s.worker(include_images=True, media_base_url="http://%s/media/" % s.fake.addr,
                          doctor_allow_private_media=True)
        s.publish([product(7, images=["http://%s/media/missing.png" % s.fake.addr])],
                  "--type", "updated")
        wait_until(lambda: s.state("p7").get("status") in ("synced", "failed"), what="p7 pushed")
        r = self.ctl("doctor", want=2)
        self.assertIn("✓ Redis answers", r.stdout)
        self.assertIn("✓ token valid; catalog 880011 reachable", r.stdout)
        self.assertIn("sample image http://%s/media/missing.png" % s.fake.addr, r.stdout)
        self.assertIn("fix: image URLs must be public", r.stdout)
        bad = self.ctl("doctor", env={"CS_META_TOKEN": "expired-token-123"}, want=2)
        self.assertIn("✗ token refused (code 190)", bad.stdout)
        self.assertIn("fix: Invalid OAuth token", bad.stdout)
        self.assertNotIn("expired-token-123", bad.stdout + bad.stderr)
        self.assertNotIn(TOKEN, r.stdout + r.stderr)

    def assert_terminal_safe(self, name, text):
        """No raw C0 control byte but the newline, no C1 control character,
        and no line that only looks like one of ours."""
        bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or
               (0x7F <= ord(c) <= 0x9F and "--json" not in name)]   # JSON: C0 escaped, C1 valid
        self.assertEqual(bad, [], "%s holds raw control characters:\n%r" % (name, text[:3000]))
        for line in text.splitlines():
            self.assertNotRegex(line, r"^(\S+ +)?ERROR +meta: ALERT", "%s: forged line" % name)
            self.assertFalse(line.startswith(FORGED_TS), "%s: forged line %r" % (name, line))

    def test_control_characters_from_products_and_channels_are_escaped(self):
        # A product name that retitles the terminal, clears the screen and
        # forges an ALERT line of its own; Meta rejects it with a message
        # that colours the terminal and forges one too.
        s = self.stack()
        name = ("Evil \x1b]0;pwned\x07\x1b[2J\u009b31m\n" + FORGED_TS +
                " ERROR meta: ALERT: catalog main paused (auth)")
        s.meta.faults({"action": "item_error", "retailer_id": "SKU-8", "count": 1000,
                       "message": "bad \x1b[31mred\x1b[0m\r\n" + FORGED_TS +
                                  " ERROR meta: ALERT: catalog main paused (auth)"})
        s.publish([product(8, name=name)], "--type", "updated")
        # HGET, not the HGETALL of wait_status: the name's newline would
        # shift redis-cli's field/value lines.
        key = "catalogsync:{meta}:state:main:default:p8"
        wait_until(lambda: s.redis.cli("HGET", key, "status") == "failed", timeout=30,
                   what="p8 to be failed")
        self.w.wait_log("META API ERROR")
        outputs = {"worker log": self.w.log()}
        for args in (["status"], ["show", "p8"], ["queue"], ["stats"], ["status", "--json"],
                     ["show", "p8", "--json"]):
            outputs["ctl " + " ".join(args)] = self.ctl(*args).stdout
        for what, text in outputs.items():
            self.assert_terminal_safe(what, text)
        shown = outputs["ctl show p8"]
        self.assertIn("default:p8 Evil \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\n" + FORGED_TS
                      + " ERROR meta: ALERT: catalog main paused (auth) at meta main", shown)
        self.assertIn("bad \\x1b[31mred\\x1b[0m\\r\\n" + FORGED_TS, shown)
        self.assertIn("bad \\x1b[31mred", outputs["ctl status"])
        log = outputs["worker log"]
        self.assertIn("Product: Evil \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\n" + FORGED_TS, log)
        self.assertIn("Syncing product 'Evil \\x1b]0;pwned", log)
        # The data itself is kept as it is; JSON output escapes it (jansson).
        doc = json.loads(outputs["ctl show p8 --json"])
        self.assertEqual(doc["connections"][0]["state"]["name"], name)

    def media_server(self):
        """An image server on loopback: 200 to /media/ok.png, 404 elsewhere;
        records (method, path) of every request."""
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                seen.append((self.command, self.path))
                self.send_response(200 if self.path == "/media/ok.png" else 404)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "4096")
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(b"\0" * 4096)

            do_GET = do_HEAD = answer

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return "127.0.0.1:%d" % srv.server_address[1], seen

    def test_doctor_probes_only_images_under_the_media_base(self):
        addr, seen = self.media_server()
        s = self.s = MetaStack(self, schedule="60000, 60000, 60000, 60000")
        self.w = s.worker(include_images=True, media_base_url="http://%s/media/" % addr,
                          doctor_allow_private_media=True)
        # Off the media base (here: another path of the same loopback server,
        # standing for any host a product could name): reported, not probed.
        off = "http://%s/internal/admin?x=1" % addr
        s.publish([product(9, images=[off])], "--type", "updated")
        wait_until(lambda: s.state("p9").get("status") == "synced", what="p9 synced")
        r = self.ctl("doctor", want=0)
        self.assertIn("○ sample image %s not probed: doctor probes only URLs under "
                      "media_base_url (http://%s/media/)" % (off, addr), r.stdout)
        self.assertEqual(seen, [])
        # Under it: one HEAD, 200.
        s.publish([product(9, version=2, images=["ok.png"])], "--type", "updated")
        wait_until(lambda: s.state("p9").get("synced_version") == "2", what="p9 v2 synced")
        r = self.ctl("doctor", want=0)
        self.assertIn("✓ sample image http://%s/media/ok.png answers 200" % addr, r.stdout)
        self.assertEqual(seen, [("HEAD", "/media/ok.png")])
        # Loopback media without doctor_allow_private_media: refused before
        # any connection, with the setting to turn on.
        conf = os.path.join(os.path.dirname(self.w.conf), "strict.conf")
        with open(self.w.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("doctor_allow_private_media = true",
                                 "doctor_allow_private_media = false"))
        r = run([program("catalogsyncctl"), "--config", conf, "doctor"],
                env={"NO_COLOR": "1", "CS_META_TOKEN": TOKEN})
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("✗ sample image http://%s/media/ok.png: refused: the host is a loopback, "
                      "private or link-local address" % addr, r.stdout)
        self.assertIn("set doctor_allow_private_media = true", r.stdout)
        self.assertEqual(len(seen), 1)

    def test_usage_and_config_errors(self):
        s = self.stack()
        self.assertIn("Usage: catalogsyncctl", run([program("catalogsyncctl"), "--help"]).stdout)
        self.assertEqual(self.ctl("frobnicate", want=64).returncode, 64)
        self.assertEqual(self.ctl("status", "--sink", "ebay", want=64).returncode, 64)
        self.assertEqual(self.ctl("show", want=64).returncode, 64)
        r = run([program("catalogsyncctl"), "--config", "/nonexistent.conf", "status"])
        self.assertEqual(r.returncode, 78, r.stderr)
        down = os.path.join(os.path.dirname(self.w.conf), "down.conf")
        with open(down, "w") as f:
            f.write(s.config().replace("port = %d" % s.redis.port, "port = 1"))
        r = run([program("catalogsyncctl"), "--config", down, "status"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("unreachable", r.stderr)


if __name__ == "__main__":
    unittest.main()
