"""The examples in docs/EVENTS.md are valid v1 events, one per type."""
import json
import os
import re
import unittest

from harness import ROOT, program, run


class DocsExamplesTest(unittest.TestCase):
    def test_event_examples_validate(self):
        with open(os.path.join(ROOT, "docs", "EVENTS.md")) as f:
            text = f.read()
        blocks = re.findall(r"```json\n(.*?)```", text, re.S)
        types = set()
        for b in blocks:
            ev = json.loads(b)
            types.add(ev["type"])
            r = run([program("catalogsync-publish"), "--dry-run"], input=b)
            self.assertEqual(r.returncode, 0, "%s: %s" % (ev["type"], r.stderr))
        self.assertEqual(types, {"product.created", "product.updated",
                                 "product.attributes_updated", "product.assets_updated",
                                 "product.deleted", "product.export_requested"})


if __name__ == "__main__":
    unittest.main()
