"""Build and process hardening (issue 14, finding 12), read from the built
binaries with readelf and from a running program's /proc entry:

- every program of the Makefile's PROGRAMS is a position-independent
  executable (ELF type DYN, a PIE flag), has full RELRO (a GNU_RELRO segment
  and BIND_NOW), is built with stack canaries (imports __stack_chk_fail) and,
  outside the sanitizer build, with _FORTIFY_SOURCE (imports __*_chk);
- catalogsync-admin runs with no core dumps (RLIMIT_CORE 0, soft and hard).
test_deploy.py applies hardening_problems() to the binaries the image's build
stage installs, and checks the image's own core-dump setting.
"""
import os
import re
import subprocess
import tempfile
import unittest

from harness import Proc, program, wait_until, wrap
from test_deploy import makefile_programs


def readelf(*args):
    return subprocess.run(["readelf", "-W"] + list(args), capture_output=True, text=True,
                          check=True).stdout


def hardening_problems(path):
    """What is missing from the binary at path, as a list of words (empty: all there)."""
    missing = []
    header = readelf("-h", path)
    if not re.search(r"^\s*Type:\s+DYN\b", header, re.M):
        missing.append("PIE (ELF type is not DYN)")
    dynamic = readelf("-d", path)
    if not re.search(r"\(FLAGS_1\).*\bPIE\b", dynamic):
        missing.append("PIE flag")
    if not (re.search(r"\(FLAGS\).*\bBIND_NOW\b", dynamic)
            or re.search(r"\(FLAGS_1\).*\bNOW\b", dynamic)):
        missing.append("BIND_NOW (-z now)")
    if not re.search(r"^\s*GNU_RELRO\b", readelf("-l", path), re.M):
        missing.append("GNU_RELRO (-z relro)")
    syms = set()
    for line in readelf("--dyn-syms", path).splitlines():
        cols = line.split()        # Num: Value Size Type Bind Vis Ndx Name [(version)]
        if len(cols) >= 8 and cols[0].rstrip(":").isdigit():
            syms.add(cols[7].split("@")[0])
    if "__stack_chk_fail" not in syms:
        missing.append("__stack_chk_fail (-fstack-protector-strong)")
    sanitized = any(s.startswith("__asan_") or s.startswith("__ubsan_") for s in syms)
    if not sanitized and not any(re.match(r"__\w+_chk$", s) and s != "__stack_chk_fail"
                                 for s in syms):
        missing.append("__*_chk (_FORTIFY_SOURCE=2)")
    return missing


class BinaryHardeningTest(unittest.TestCase):
    def test_every_program_is_hardened(self):
        progs = makefile_programs()
        self.assertGreaterEqual(len(progs), 5)
        for name in progs:
            with self.subTest(program=name):
                self.assertEqual(hardening_problems(program(name)), [])

    def test_the_check_sees_a_binary_without_hardening(self):
        """The checks can fail: a plain `cc` build of a tiny program without
        the flags lacks them (Debian's compiler makes PIE by default, so
        that one is turned off explicitly)."""
        tmp = tempfile.mkdtemp(prefix="cs-harden-")
        src, exe = os.path.join(tmp, "t.c"), os.path.join(tmp, "t")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\n#include <string.h>\n"
                    "int main(int c, char **v) { char b[16]; strcpy(b, v[0]); "
                    "printf(\"%s %d\\n\", b, c); return 0; }\n")
        subprocess.run(["cc", "-O2", "-fno-stack-protector", "-no-pie", "-o", exe, src],
                       check=True)
        missing = " ".join(hardening_problems(exe))
        for word in ("PIE", "BIND_NOW", "__stack_chk_fail", "_FORTIFY_SOURCE"):
            self.assertIn(word, missing)


class CoreDumpTest(unittest.TestCase):
    def test_admin_runs_without_core_dumps(self):
        d = tempfile.mkdtemp(prefix="cs-core-")
        conf = os.path.join(d, "c.conf")
        with open(conf, "w") as f:
            f.write('redis = { host = "127.0.0.1"; port = 1; timeout_ms = 100; };\n')
        p = Proc("admin-core", wrap([program("catalogsync-admin"), "--config", conf,
                                     "--listen", "127.0.0.1:0"]))
        self.addCleanup(p.stop)
        wait_until(lambda: "listening on" in p.read_log(), what="admin listening")
        with open("/proc/%d/limits" % p.p.pid) as f:
            limits = f.read()
        m = re.search(r"^Max core file size\s+(\S+)\s+(\S+)", limits, re.M)
        self.assertTrue(m, limits)
        self.assertEqual((m.group(1), m.group(2)), ("0", "0"))


if __name__ == "__main__":
    unittest.main()
