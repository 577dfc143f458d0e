"""Runs the integration tests (unittest) and prints a machine-readable
count for tests/run.sh: a last line "PYRESULT passed=N failed=M".

Usage: runner.py [PATTERN]   (default test_*.py; CS_TEST_FILTER narrows to
names containing a substring)."""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Result(unittest.TextTestResult):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.failed_ids = set()
        self.started = {}

    def startTest(self, test):
        self.started[test.id()] = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        took = time.monotonic() - self.started.get(test.id(), time.monotonic())
        if took > 5:
            self.stream.write("  (%s took %.1fs)\n" % (test.id(), took))

    def addFailure(self, test, err):
        self.failed_ids.add(test.id())
        super().addFailure(test, err)

    def addError(self, test, err):
        self.failed_ids.add(getattr(test, "id", lambda: str(test))())
        super().addError(test, err)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.failed_ids.add(test.id())
        super().addSubTest(test, subtest, err)


def filtered(suite, needle):
    out = unittest.TestSuite()
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            out.addTests(filtered(t, needle))
        elif needle in t.id():
            out.addTest(t)
    return out


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
    suite = unittest.defaultTestLoader.discover(HERE, pattern=pattern, top_level_dir=HERE)
    needle = os.environ.get("CS_TEST_FILTER")
    if needle:
        suite = filtered(suite, needle)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Result, stream=sys.stdout)
    res = runner.run(suite)
    failed = len(res.failed_ids)
    passed = res.testsRun - failed - len(res.skipped)
    print("PYRESULT passed=%d failed=%d" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
