#!/usr/bin/env python3
"""Checks the systemd user units in contrib/systemd with systemd-analyze.

  test_systemd_units.py --source-dir DIR --roam BIN

Each template is copied to a private directory under an instance name
(roam@.service -> roam@personal.service), with ExecStart pointing at the
built roam (verify checks that the program exists), and
`systemd-analyze --user verify` must accept all of them without a word:
unknown keys, bad values, a missing ExecStart program, a dependency on a
unit that does not exist, or a Documentation= man page that man(1) cannot
find (the pages of docs/man are put on MANPATH) all fail the test.
Exits 77 (ctest's SKIP_RETURN_CODE) when systemd-analyze is not installed.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
INSTANCE = "personal"
# The path the unit files name; cmake --install writes the real one.
DEFAULT_BINARY = "/usr/local/bin/roam"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--roam", required=True)
    args = parser.parse_args()

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("skipped: systemd-analyze is not installed")
        return SKIP

    templates = sorted(glob.glob(os.path.join(args.source_dir, "contrib", "systemd", "*@.*")))
    names = [os.path.basename(t) for t in templates]
    problems = []
    for expected in ("roam@.service", "roam@.timer", "roam-watch@.service"):
        if expected not in names:
            problems.append(f"contrib/systemd/{expected} is missing")

    with tempfile.TemporaryDirectory() as tmp:
        units = os.path.join(tmp, "units")
        runtime = os.path.join(tmp, "runtime")
        man = os.path.join(tmp, "man")
        os.makedirs(units)
        os.makedirs(runtime, mode=0o700)
        for section, page in (("1", "roam.1"), ("5", "roam.conf.5")):
            os.makedirs(os.path.join(man, "man" + section))
            shutil.copy(os.path.join(args.source_dir, "docs", "man", page),
                        os.path.join(man, "man" + section, page))

        copies = []
        for template in templates:
            with open(template, encoding="utf-8") as f:
                text = f.read()
            name = os.path.basename(template).replace("@.", f"@{INSTANCE}.")
            if "ExecStart=" in text:
                # Without this path the substitution below would silently
                # leave verify checking whatever the unit names instead.
                if DEFAULT_BINARY not in text:
                    problems.append(f"{os.path.basename(template)}: ExecStart does not run "
                                    f"{DEFAULT_BINARY}, which cmake --install replaces")
                text = text.replace(DEFAULT_BINARY, os.path.abspath(args.roam))
            path = os.path.join(units, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            copies.append(path)

        env = dict(os.environ)
        # The trailing colon keeps systemd's own directories after ours.
        env["SYSTEMD_UNIT_PATH"] = units + ":"
        # A user manager needs a runtime directory, which a test run (a
        # container, CI) may lack.
        env["XDG_RUNTIME_DIR"] = runtime
        env["MANPATH"] = man
        command = [analyze, "--user", "verify"]
        if shutil.which("man") is None:
            # Documentation= is checked with man(1); without it, every page
            # would be reported missing.
            command.append("--man=no")
        run = subprocess.run(command + copies, capture_output=True, text=True, env=env,
                             timeout=120, cwd=tmp)
        output = (run.stdout + run.stderr).strip()
        if "Failed to initialize manager" in output:
            # No user manager can be simulated here; the system manager
            # checks the same syntax and paths.
            command.remove("--user")
            run = subprocess.run(command + copies, capture_output=True, text=True, env=env,
                                 timeout=120, cwd=tmp)
            output = (run.stdout + run.stderr).strip()
        if run.returncode != 0 or output:
            problems.append(f"{' '.join(command)} {' '.join(os.path.basename(c) for c in copies)}"
                            f" (exit {run.returncode}):\n{output}")

    if problems:
        for p in problems:
            print("FAIL: " + p, file=sys.stderr)
        return 1
    print(f"ok: {' '.join(command[1:])} accepts {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
