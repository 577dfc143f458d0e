"""The status page in headless Chromium: counts in the colour codes, a filter
applied, a reset clicked — checked through the DOM, with a screenshot saved as
a test artifact (build/test-artifacts/status-page*.png)."""
import os
import shutil
import unittest

from harness import BUILD, wait_until
from test_admin import ADMIN_TOKEN, Admin
from test_meta_worker import TOKEN, MetaStack, product

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    HAVE_SELENIUM = True
except ImportError:     # scripts/deps.sh installs python3-selenium
    HAVE_SELENIUM = False

ARTIFACTS = os.path.join(BUILD, "test-artifacts")


@unittest.skipUnless(HAVE_SELENIUM and shutil.which("chromium") and shutil.which("chromedriver"),
                     "needs chromium, chromium-driver and python3-selenium (scripts/deps.sh)")
class StatusPageTest(unittest.TestCase):
    def setUp(self):
        s = self.s = MetaStack(self, schedule="60000, 60000, 60000, 60000")
        for sku in ("SKU-2", "SKU-3"):
            s.meta.faults({"action": "item_error", "retailer_id": sku, "count": 1000,
                           "message": "(#10801) Image URL not accessible for %s" % sku})
        s.worker()
        s.publish([product(i) for i in (1, 2, 3)], "--type", "updated")
        for pid, want in (("p1", "synced"), ("p2", "failed"), ("p3", "failed")):
            s.wait_status(pid, want)
        self.admin = Admin(self, s.config(), env={"CS_META_TOKEN": TOKEN,
                                                  "CS_ADMIN_TOKEN": ADMIN_TOKEN},
                           extra='admin = { token = "env:CS_ADMIN_TOKEN"; };\n')
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium")
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                     "--disable-dev-shm-usage"):
            opts.add_argument(flag)
        self.browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")),
                                        options=opts)
        self.addCleanup(self.browser.quit)
        os.makedirs(ARTIFACTS, exist_ok=True)

    def rows(self):
        """{product: row text}, read in one step (the page redraws the list)."""
        return dict(self.browser.execute_script(
            "return [...document.querySelectorAll('#products tr')]"
            ".map(r => [r.dataset.product, r.innerText]);"))

    def count(self, status):
        return tuple(self.browser.execute_script(
            "const e = document.querySelector('.conn[data-connection=\"main\"] "
            ".count[data-status=\"' + arguments[0] + '\"]');"
            "return e ? [e.textContent, getComputedStyle(e).color] : [null, null];", status))

    def click_reset(self, product):
        """Clicks the row's Reset button (retried if a redraw replaced the row)."""
        def click():
            try:
                self.browser.find_element(
                    By.CSS_SELECTOR, '#products tr[data-product="%s"] button.reset' % product).click()
                return True
            except (StaleElementReferenceException, NoSuchElementException):
                return False
        wait_until(click, what="Reset clicked for " + product)

    def test_filter_and_reset_through_the_page(self):
        b = self.browser
        b.get(self.admin.base + "/")
        wait_until(lambda: len(self.rows()) == 2, what="two failed rows")
        self.assertEqual(self.count("synced")[0], "✓ 1 synced")
        self.assertEqual(self.count("failed")[0], "✗ 2 failed")
        # The colour codes: green for synced, red for failed.
        self.assertEqual(self.count("synced")[1], "rgb(26, 127, 55)")
        self.assertEqual(self.count("failed")[1], "rgb(207, 34, 46)")
        row = self.rows()["default:p2"]
        self.assertIn("✗ Failed (rejected)", row)
        self.assertIn("Image URL not accessible for SKU-2", row)
        b.save_screenshot(os.path.join(ARTIFACTS, "status-page.png"))

        # Filter: only p3's error mentions SKU-3.
        b.find_element(By.ID, "filter").send_keys("SKU-3")
        wait_until(lambda: list(self.rows()) == ["default:p3"], what="filtered to p3")
        b.find_element(By.ID, "filter").clear()
        b.find_element(By.ID, "filter").send_keys(" ")      # fires input: the list comes back
        wait_until(lambda: len(self.rows()) == 2, what="filter cleared")

        # Reset without the token is refused, with the reason on the page.
        self.click_reset("default:p2")
        wait_until(lambda: "admin token" in b.find_element(By.ID, "message").text,
                   what="token demanded")
        # The operator fixed p2's images; reset it from the page.
        self.s.meta.call("DELETE", "/_fake/faults")
        b.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
        self.click_reset("default:p2")
        wait_until(lambda: "1 reset and queued" in b.find_element(By.ID, "message").text,
                   what="reset confirmed on the page")
        self.s.wait_status("p2", "synced")
        # The page shows the new state after a refresh (it also refreshes itself).
        b.refresh()
        wait_until(lambda: list(self.rows()) == ["default:p3"], what="p2 gone from the failed list")
        wait_until(lambda: self.count("synced")[0] == "✓ 2 synced", what="2 synced")
        b.save_screenshot(os.path.join(ARTIFACTS, "status-page-after-reset.png"))
        self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, "status-page.png")), 5000)

        # "Reset all failed" takes the rest.
        b.find_element(By.ID, "reset-all").click()
        wait_until(lambda: "1 reset and queued" in b.find_element(By.ID, "message").text,
                   what="reset all confirmed")
        self.s.wait_status("p3", "synced")


if __name__ == "__main__":
    unittest.main()
