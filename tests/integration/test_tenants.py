"""One tenant can never touch another's products at a channel
(docs/TENANTS.md): a Meta catalog serving several tenants keeps their items
apart (retailer ids "<tenant>:<sku>"), a catalog serves only the tenants it
lists (by default "default"), a WooCommerce store holds one tenant's products
and never adopts them for another; configurations that would let identities
collide are refused at start.  Through the real pipeline: Kafka, the worker,
Redis and the fake channels."""
import os
import tempfile
import unittest

from harness import program, run, wait_until
from test_meta_worker import TOKEN, MetaStack, product
from test_woo_worker import WooStack
from test_woo_worker import product as woo_product


def mug(tenant_price, **extra):
    return product(1, sku="MUG", name="Mug", price={"amount": tenant_price, "currency": "USD"},
                   **extra)


class MetaTenantsTest(unittest.TestCase):
    def test_two_tenants_in_one_catalog_keep_their_own_items(self):
        s = MetaStack(self)
        w = s.worker(tenants=["acme", "evilcorp"])
        s.publish([mug("12.00")], "--type", "updated", "--tenant", "acme")
        wait_until(lambda: s.state("p1", "acme").get("status") == "synced", what="acme synced")
        self.assertEqual(s.state("p1", "acme")["remote_id"], "acme:MUG")
        # Another tenant's product with the same id and SKU, priced 0.01.
        s.publish([mug("0.01")], "--type", "updated", "--tenant", "evilcorp")
        wait_until(lambda: s.state("p1", "evilcorp").get("status") == "synced",
                   what="evilcorp synced")
        items = s.items()
        self.assertNotIn("MUG", items)
        self.assertEqual(items["acme:MUG"]["fields"]["price"], "12.00 USD")
        self.assertEqual(items["evilcorp:MUG"]["fields"]["price"], "0.01 USD")
        # The other tenant's delete removes its own item only.
        s.publish([{"id": "p1", "version": 2, "sku": "MUG"}], "--type", "deleted",
                  "--tenant", "evilcorp")
        wait_until(lambda: "evilcorp:MUG" not in s.items(), what="evilcorp's item deleted")
        self.assertEqual(s.items()["acme:MUG"]["fields"]["price"], "12.00 USD")
        self.assertEqual(s.state("p1", "acme")["status"], "synced")
        w.wait_log("retailer id acme:MUG")

    def test_a_catalog_serves_only_its_tenants_by_default(self):
        s = MetaStack(self)
        s.worker()                 # no tenants key: the default tenant only
        s.publish([mug("12.00")], "--type", "updated")
        s.wait_status("p1", "synced")
        self.assertEqual(s.state("p1")["remote_id"], "MUG")      # bare, as in the seed
        s.publish([mug("0.01")], "--type", "updated", "--tenant", "evilcorp")
        s.publish([{"id": "p1", "version": 2, "sku": "MUG"}], "--type", "deleted",
                  "--tenant", "evilcorp")
        # A later event of the served tenant shows the worker got past them.
        s.publish([product(2)], "--type", "updated")
        s.wait_status("p2", "synced")
        self.assertEqual(s.items()["MUG"]["fields"]["price"], "12.00 USD")
        self.assertEqual(s.state("p1", "evilcorp"), {})
        recs = [r for r in s.batch_records() if r["data"]["id"] == "MUG"]
        self.assertEqual(len(recs), 1, recs)

    def test_moving_to_several_tenants_replaces_the_bare_item(self):
        s = MetaStack(self)
        w = s.worker()
        s.publish([mug("12.00")], "--type", "updated")
        s.wait_status("p1", "synced")
        w.stop()
        s.worker(tenants=["default", "acme"], name="worker2")
        s.publish([mug("13.00", version=2)], "--type", "updated")
        wait_until(lambda: s.state("p1").get("synced_version") == "2", what="v2 synced")
        wait_until(lambda: "MUG" not in s.items(), what="the bare item removed")
        self.assertEqual(s.items()["default:MUG"]["fields"]["price"], "13.00 USD")


class WooTenantsTest(unittest.TestCase):
    def test_an_export_of_another_tenant_never_adopts_a_stores_product(self):
        s = WooStack(self, stores=(("trash",),))
        w = s.worker()
        s.publish([woo_product(1, sku="MUG")], "--type", "export_requested",
                  "--connections", "1", "--fields", "name,sku,price")
        s.wait_status(1, "p1", "synced")
        [before] = s.by_sku(1, "MUG")
        # evilcorp names store 1 (the default tenant's) for its own MUG at 0.01.
        s.publish([woo_product(1, sku="MUG", name="Evil mug",
                               price={"amount": "0.01", "currency": "USD"})],
                  "--type", "export_requested", "--tenant", "evilcorp", "--connections", "1",
                  "--fields", "name,sku,price")
        w.wait_log("names store 1, which holds tenant default's products: not exported")
        # Later work of the store's tenant goes on, and its product is intact.
        s.publish([woo_product(2)], "--type", "export_requested", "--connections", "1",
                  "--fields", "name,sku,price")
        s.wait_status(1, "p2", "synced")
        [after] = s.by_sku(1, "MUG")
        self.assertEqual((after["id"], after["name"], after["regular_price"]),
                         (before["id"], "Product 1 v1", "11.50"))
        self.assertEqual(s.hash("link:1:evilcorp:p1"), {})
        self.assertEqual(s.hash("state:1:evilcorp:p1"), {})


class TenantConfigTest(unittest.TestCase):
    BASE = ('kafka = { brokers = "127.0.0.1:1"; };\n')

    def check(self, sink, text):
        d = tempfile.mkdtemp(prefix="cs-tenants-")
        path = os.path.join(d, "c.conf")
        with open(path, "w") as f:
            f.write(self.BASE + text)
        return run([program("catalogsync-worker"), "--sink", sink, "--config", path,
                    "--check-config"], env={"T": TOKEN})

    def test_collisions_are_refused_at_start(self):
        cat = ('{ id = "%s"; catalog_id = "%s"; token = "env:T"; %s }')
        cases = [
            ("meta", 'meta = { catalogs = ( %s, %s ); };' % (
                cat % ("a", "77", 'tenants = ["acme"];'), cat % ("b", "77", 'tenants = ["evil"];')),
             'meta.catalogs: "a" and "b" both write Meta catalog 77'),
            ("meta", 'meta = { catalogs = ( %s ); };' % cat % ("a", "77", 'tenants = [];'),
             "tenants must name at least one tenant"),
            ("meta", 'meta = { catalogs = ( %s ); };' % cat % ("a", "77", 'tenants = ["*", "x"];'),
             '"*" already serves every tenant'),
            ("meta", 'meta = { catalogs = ( %s ); };' % cat % ("a", "77", 'tenants = ["a:b"];'),
             "is not a tenant name"),
            ("woocommerce", 'woocommerce = { connections = ( '
             '{ id = 1; base_url = "https://s.example"; consumer_key = "env:T"; '
             'consumer_secret = "env:T"; tenant = "acme"; }, '
             '{ id = 2; base_url = "https://s.example/"; consumer_key = "env:T"; '
             'consumer_secret = "env:T"; tenant = "evil"; } ); };',
             "are the same store https://s.example/; a store holds one tenant's products"),
        ]
        for sink, text, want in cases:
            with self.subTest(want=want):
                r = self.check(sink, text)
                self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
                self.assertIn(want, r.stderr)

    def test_check_config_shows_the_tenants(self):
        r = self.check("meta", 'meta = { catalogs = ( { id = "a"; catalog_id = "7"; '
                               'token = "env:T"; } ); };')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('tenants = ["default"];', r.stdout)


if __name__ == "__main__":
    unittest.main()
