#!/usr/bin/env python3
"""Checks the man pages docs/man/roam.1 and docs/man/roam.conf.5.

  check_man_pages.py coverage --source-dir DIR --roam BIN
      Every configuration key (known_keys() in src/cli/config.cpp and every
      key sample.conf shows) has an entry in roam.conf(5); every command,
      option and exit status of `roam --help` and src/cli/app.hpp has one in
      roam(1). The lists come from the sources and the built binary, never
      from this file, so a key or option added without its documentation
      fails here.

  check_man_pages.py lint --source-dir DIR
      `mandoc -Tlint -Wwarning` is clean on both pages, or, without mandoc,
      `groff -ww -z` prints no warning. Exits 77 (ctest's SKIP_RETURN_CODE)
      when neither is installed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

SKIP = 77
PAGES = ("roam.1", "roam.conf.5")


def fail(problems):
    for p in problems:
        print("FAIL: " + p, file=sys.stderr)
    return 1


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def config_keys(config_cpp):
    """The keys of every known_*keys() table in config.cpp, in file order."""
    text = read(config_cpp)
    keys = []
    # Each table is a function `known_..._keys()` whose body lists
    # {"key", "what it accepts"} pairs and ends with `return keys;`.
    for match in re.finditer(r"known_\w*keys\(\)\s*\{(.*?)\breturn\b", text, re.S):
        keys += re.findall(r'\{\s*"([a-z][a-z0-9_]*)"\s*,', match.group(1))
    return keys


def sample_keys(sample_conf):
    """Keys that sample.conf sets or shows commented out (`#key = value`)."""
    keys = []
    for line in read(sample_conf).splitlines():
        m = re.match(r"^[#;]?[ \t]*([a-z][a-z0-9_]*)[ \t]*=", line)
        if m and m.group(1) not in keys:
            keys.append(m.group(1))
    return keys


def help_text(roam):
    run = subprocess.run([roam, "--help"], capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        raise SystemExit(fail([f"{roam} --help exited with {run.returncode}: {run.stderr}"]))
    return run.stdout


def help_options(text):
    """(long options, short options) that `roam --help` lists."""
    longs = []
    for name in re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", text):
        if name not in longs:
            longs.append(name)
    shorts = re.findall(r"^\s+-([A-Za-z0-9]),", text, re.M)
    return longs, shorts


def help_commands(text):
    """The commands listed under "Commands:" in `roam --help`."""
    m = re.search(r"^Commands:\n(.*?)(?:\n\n|\Z)", text, re.S | re.M)
    if not m:
        return []
    return re.findall(r"^  ([a-z][a-z0-9-]*)\b", m.group(1), re.M)


def exit_codes(app_hpp):
    return sorted({int(n) for n in re.findall(r"k_exit_\w+\s*=\s*(\d+)\s*;", read(app_hpp))})


def render(page):
    """The page as plain text, on lines long enough never to be broken or
    hyphenated, or None if no formatter is installed."""
    if shutil.which("mandoc"):
        cmd = ["mandoc", "-Tascii", "-Owidth=1000", page]
    elif shutil.which("groff"):
        cmd = ["groff", "-mdoc", "-Tascii", "-rLL=1000n", "-P-c", page]
    else:
        return None
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    # Bold and underline are overstrikes ("x\bx", "_\bx") in this output.
    return re.sub(r".\x08", "", out)


def source_lines(page_text):
    """The page's macro lines, with mdoc's "\\-" written as "-"."""
    return [line.replace("\\-", "-") for line in page_text.splitlines()]


def section(lines, name):
    """The macro lines of section `.Sh name`."""
    out, inside = [], False
    for line in lines:
        if line.startswith(".Sh "):
            inside = line[4:].strip() == name
        elif inside:
            out.append(line)
    return out


def has_entry(lines, macro, word):
    """Whether a list item (.It) of `lines` names `word` after `macro`."""
    pattern = re.compile(r"^\.It\b.*\b" + macro + r" " + re.escape(word) + r"(?![\w-])")
    return any(pattern.search(line) for line in lines)


def rendered_has(text, word):
    if text is None:
        return True
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def coverage(args):
    src = args.source_dir
    man = os.path.join(src, "docs", "man")
    conf_page = os.path.join(man, "roam.conf.5")
    cmd_page = os.path.join(man, "roam.1")
    conf_lines = source_lines(read(conf_page))
    cmd_lines = source_lines(read(cmd_page))
    conf_text = render(conf_page)
    cmd_text = render(cmd_page)
    problems = []

    known = config_keys(os.path.join(src, "src", "cli", "config.cpp"))
    sample = sample_keys(os.path.join(src, "sample.conf"))
    # A broken extraction would make every check below pass vacuously.
    if len(known) < 10:
        problems.append(f"found only {len(known)} keys in known_keys() of config.cpp: {known}")
    if len(sample) < 10:
        problems.append(f"found only {len(sample)} keys in sample.conf: {sample}")
    for key in sample:
        if key not in known:
            problems.append(f"sample.conf shows '{key}', which known_keys() does not accept")
    for key in known + [k for k in sample if k not in known]:
        if not has_entry(conf_lines, "Ic", key):
            problems.append(f"roam.conf.5 has no '.It Ic {key}' entry")
        elif not rendered_has(conf_text, key):
            problems.append(f"roam.conf.5 does not show '{key}' when rendered")

    text = help_text(args.roam)
    longs, shorts = help_options(text)
    commands = help_commands(text)
    if len(longs) < 5 or not shorts or not commands:
        problems.append(f"could not read the options and commands of --help:\n{text}")
    options = section(cmd_lines, "OPTIONS")
    for name in longs:
        if not has_entry(options, "Fl", "--" + name) and not has_entry(options, "Fl", "-" + name):
            problems.append(f"roam.1 OPTIONS has no entry for --{name}")
        elif not rendered_has(cmd_text, "--" + name):
            problems.append(f"roam.1 does not show '--{name}' when rendered")
    for name in shorts:
        if not has_entry(options, "Fl", name):
            problems.append(f"roam.1 OPTIONS has no entry for -{name}")
    for name in commands:
        if not has_entry(section(cmd_lines, "COMMANDS"), "Cm", name):
            problems.append(f"roam.1 COMMANDS has no entry for '{name}'")

    codes = exit_codes(os.path.join(src, "src", "cli", "app.hpp"))
    if not codes:
        problems.append("found no k_exit_* constants in src/cli/app.hpp")
    status = section(cmd_lines, "EXIT STATUS")
    for code in codes:
        if not any(re.match(r"^\.It " + str(code) + r"\b", line) for line in status):
            problems.append(f"roam.1 EXIT STATUS has no entry for {code}")

    if problems:
        return fail(problems)
    print(f"ok: {len(known)} keys of config.cpp, {len(sample)} of sample.conf, "
          f"{len(longs)} long and {len(shorts)} short options, {len(commands)} commands, "
          f"exit statuses {codes}")
    return 0


def lint(args):
    pages = [os.path.join(args.source_dir, "docs", "man", p) for p in PAGES]
    problems = []
    if shutil.which("mandoc"):
        for page in pages:
            run = subprocess.run(["mandoc", "-Tlint", "-Wwarning", page],
                                 capture_output=True, text=True, timeout=60)
            if run.returncode != 0 or run.stdout or run.stderr:
                problems.append(f"mandoc -Tlint -Wwarning {page} (exit {run.returncode}):\n"
                                + run.stdout + run.stderr)
        tool = "mandoc"
    elif shutil.which("groff"):
        for page in pages:
            macros = "-mdoc" if re.search(r"^\.Dd\b", read(page), re.M) else "-man"
            run = subprocess.run(["groff", "-ww", "-z", macros, page],
                                 capture_output=True, text=True, timeout=60)
            if run.returncode != 0 or run.stderr:
                problems.append(f"groff -ww -z {macros} {page} (exit {run.returncode}):\n"
                                + run.stderr)
        tool = "groff"
    else:
        print("skipped: neither mandoc nor groff is installed")
        return SKIP
    if problems:
        return fail(problems)
    print(f"ok: {tool} finds nothing to warn about in {', '.join(PAGES)}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["coverage", "lint"])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--roam", help="the built roam binary (coverage)")
    args = parser.parse_args()
    if args.mode == "coverage":
        if not args.roam:
            parser.error("coverage needs --roam")
        return coverage(args)
    return lint(args)


if __name__ == "__main__":
    sys.exit(main())
