"""Leases never leak (issue 16, item 3): every retry a worker claims is
settled or handed back, so a product never waits out retry.lease_ms while
the worker holding its lease is alive and not pushing it (docs/REDIS.md,
"Leases").  The lease here is 120 s and the retry delay 1 ms: a product
waiting for a lease shows as minutes, one waiting for its retry as nothing."""
import re
import unittest

from harness import Redis, program, run


class LeaseScriptTest(unittest.TestCase):
    def test_lease_rules_on_the_scripts(self):
        # Two workers' paths played step by step on the real scripts
        # (tests/tools/lease.c): a newer version deferred behind a lease is
        # due at once when the holder releases or settles its overtaken
        # claim; a release with a lost lease changes nothing.
        r = Redis(self)
        out = run([program("cs-test-lease"), "--redis-port", str(r.port)])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(sorted(re.findall(r"^ok (\S+)$", out.stdout, re.M)), [
            "outcome_of_overtaken_claim_makes_the_newer_version_due",
            "release_of_overtaken_claim_makes_the_newer_version_due",
            "release_with_a_lost_lease_changes_nothing"], out.stdout)


if __name__ == "__main__":
    unittest.main()
