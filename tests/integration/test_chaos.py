"""The chaos scenario's short profile (tests/chaos/chaos.py): both sinks,
faults of every kind, workers killed with SIGKILL, redis-server restarted;
0 mismatches.  The long run is `make soak`."""
import os
import re
import subprocess
import sys
import unittest

from harness import ROOT


class ChaosTest(unittest.TestCase):
    @unittest.skipIf(os.environ.get("CS_VALGRIND") == "1",
                     "under valgrind the workers are too slow for the fault timings; the "
                     "chaos run is covered by the plain and the sanitizer suites")
    def test_short_profile_has_no_mismatch(self):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "chaos", "chaos.py"),
                            "--products", os.environ.get("CHAOS_PRODUCTS", "400"),
                            "--kill-every", "3", "--chaos-seconds", "25",
                            "--settle-timeout", "240"],
                           capture_output=True, text=True, errors="replace", timeout=600)
        summary = [l for l in r.stdout.splitlines()
                   if l.startswith(("chaos:", "mismatches:", "MISMATCH", "worker RSS"))]
        print("\n".join(summary))
        self.assertEqual(r.returncode, 0, "\n".join(summary) + "\n" + r.stdout[-3000:] +
                         r.stderr[-3000:])
        self.assertIn("mismatches: 0", r.stdout)
        [line] = [l for l in r.stdout.splitlines() if l.startswith("chaos:")]
        kills = int(re.search(r"(\d+) kills", line).group(1))
        self.assertGreater(kills, 0, "the run killed no worker")


if __name__ == "__main__":
    unittest.main()
