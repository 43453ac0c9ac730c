#!/usr/bin/env python3
"""Tests of contrib/roam-oauth2 against a fake OAuth server on 127.0.0.1.

The real providers cannot be reached from a test, so a tiny http.server in
this process plays the device and token endpoints, and the script is pointed
at it with its hidden --auth-url, --device-url and --token-url options. Each
test runs the script as roam would (a subprocess whose stdout is the token)
and checks what it printed, what it asked the server and what it left in the
token file. For the authorization-code flow the test also plays the browser:
it reads the sign-in URL the script prints on stderr and requests the
script's loopback redirect URI with a code, as the provider would make the
browser do.
"""

import base64
import hashlib
import http.server
import json
import os
import queue
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                      "roam-oauth2")


class FakeOAuthServer:
    """Answers POSTs to /device and /token from per-path queues of
    (status, JSON) pairs, and records every request's form fields."""

    def __init__(self):
        self.answers = {"/device": [], "/token": []}
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("ascii"))
                fields = {k: v[0] for k, v in form.items()}
                fake.requests.append((self.path, fields))
                answers = fake.answers.get(self.path)
                if answers:
                    status, body = answers.pop(0)
                    # A callable answer decides from the request, as the
                    # PKCE check of the token endpoint must.
                    if callable(body):
                        status, body = body(fields)
                else:
                    status, body = 500, {"error": "unexpected request"}
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RoamOAuth2Test(unittest.TestCase):
    def setUp(self):
        self.server = FakeOAuthServer()
        self.dir = tempfile.TemporaryDirectory()
        # A directory that does not exist yet: the script creates it.
        self.token_file = os.path.join(self.dir.name, "state", "work.oauth2")

    def tearDown(self):
        self.server.close()
        self.dir.cleanup()

    def script_args(self, provider, extra):
        args = [sys.executable, SCRIPT, "--provider", provider, "--client-id", "cid",
                "--token-file", self.token_file,
                "--auth-url", self.server.url + "/auth",
                "--device-url", self.server.url + "/device",
                "--token-url", self.server.url + "/token"]
        if provider == "gmail":
            args += ["--client-secret", "csecret"]
        return args + list(extra)

    def run_script(self, *extra, provider="gmail"):
        """Runs the script to its end; the device-code flow unless `extra`
        says otherwise, since gmail's default flow needs a browser."""
        if "--flow" not in extra:
            extra = ("--flow", "device") + extra
        return subprocess.run(self.script_args(provider, extra), capture_output=True, text=True,
                              timeout=60)

    def queue_device_flow(self, expires_in=3600):
        self.server.answers["/device"].append((200, {
            "device_code": "dev-1", "user_code": "ABCD-EFGH",
            "verification_url": "https://www.google.com/device", "expires_in": 60,
            "interval": 1}))
        self.server.answers["/token"].append((428, {"error": "authorization_pending"}))
        self.server.answers["/token"].append((200, {
            "access_token": "at-1", "refresh_token": "rt-1", "expires_in": expires_in,
            "token_type": "Bearer"}))

    def stored(self):
        with open(self.token_file, encoding="utf-8") as f:
            return json.load(f)

    def test_device_flow_prints_instructions_on_stderr_and_the_token_on_stdout(self):
        self.queue_device_flow()
        r = self.run_script()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "at-1\n")
        self.assertIn("https://www.google.com/device", r.stderr)
        self.assertIn("ABCD-EFGH", r.stderr)
        self.assertNotIn("at-1", r.stderr)
        self.assertNotIn("rt-1", r.stderr)
        # The token file is private from the start, and holds the tokens.
        self.assertEqual(stat.S_IMODE(os.stat(self.token_file).st_mode), 0o600)
        self.assertEqual(self.stored()["refresh_token"], "rt-1")
        paths = [p for p, _ in self.server.requests]
        self.assertEqual(paths, ["/device", "/token", "/token"])
        device = self.server.requests[0][1]
        self.assertEqual(device["scope"], "https://mail.google.com/")
        self.assertEqual(device["client_id"], "cid")
        poll = self.server.requests[2][1]
        self.assertEqual(poll["grant_type"], "urn:ietf:params:oauth:grant-type:device_code")
        self.assertEqual(poll["device_code"], "dev-1")
        self.assertEqual(poll["client_secret"], "csecret")
        # No temporary file is left beside the token file.
        leftovers = [n for n in os.listdir(os.path.dirname(self.token_file))
                     if n.startswith(".roam-oauth2-")]
        self.assertEqual(leftovers, [])

    def test_a_fresh_cached_token_is_used_without_asking(self):
        self.queue_device_flow(expires_in=3600)
        self.assertEqual(self.run_script().returncode, 0)
        before = len(self.server.requests)
        r = self.run_script()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "at-1\n")
        self.assertEqual(len(self.server.requests), before)

    def test_the_second_call_refreshes_a_token_about_to_expire(self):
        # 60 seconds left is within the script's margin, so the second call
        # must use the refresh token (and keep a rotated one).
        self.queue_device_flow(expires_in=60)
        self.assertEqual(self.run_script().returncode, 0)
        self.server.answers["/token"].append((200, {
            "access_token": "at-2", "refresh_token": "rt-2", "expires_in": 3600}))
        r = self.run_script()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "at-2\n")
        self.assertEqual(r.stderr, "")
        path, fields = self.server.requests[-1]
        self.assertEqual(path, "/token")
        self.assertEqual(fields["grant_type"], "refresh_token")
        self.assertEqual(fields["refresh_token"], "rt-1")
        self.assertEqual(fields["client_id"], "cid")
        self.assertEqual(fields["client_secret"], "csecret")
        self.assertEqual(self.stored()["refresh_token"], "rt-2")
        self.assertEqual(stat.S_IMODE(os.stat(self.token_file).st_mode), 0o600)

    def test_an_expired_cached_token_is_refreshed(self):
        os.makedirs(os.path.dirname(self.token_file))
        with open(self.token_file, "w", encoding="utf-8") as f:
            json.dump({"access_token": "old", "refresh_token": "rt-9",
                       "expires_at": int(time.time()) - 10}, f)
        os.chmod(self.token_file, 0o600)
        # Google sends no new refresh token on refresh: the old one stays.
        self.server.answers["/token"].append((200, {"access_token": "new", "expires_in": 3599}))
        r = self.run_script()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "new\n")
        self.assertEqual(self.server.requests[-1][1]["refresh_token"], "rt-9")
        data = self.stored()
        self.assertEqual(data["refresh_token"], "rt-9")
        self.assertEqual(data["access_token"], "new")
        self.assertGreater(data["expires_at"], time.time() + 3000)

    def test_a_revoked_refresh_token_fails_without_printing_secrets(self):
        os.makedirs(os.path.dirname(self.token_file))
        with open(self.token_file, "w", encoding="utf-8") as f:
            json.dump({"refresh_token": "rt-revoked"}, f)
        self.server.answers["/token"].append(
            (400, {"error": "invalid_grant", "error_description": "Token has been revoked."}))
        r = self.run_script()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("invalid_grant", r.stderr)
        self.assertIn("--reauthorize", r.stderr)
        # Gmail's usual cause, and its two cures, are named.
        self.assertIn("7 days", r.stderr)
        self.assertIn("\"Testing\"", r.stderr)
        self.assertIn("publish the app", r.stderr)
        self.assertNotIn("rt-revoked", r.stderr)
        self.assertNotIn("csecret", r.stderr)
        # The dead refresh token stays where it was: the user may want to
        # look at it, and --reauthorize replaces it.
        self.assertEqual(self.stored()["refresh_token"], "rt-revoked")

    def test_a_revoked_microsoft_refresh_token_asks_for_reauthorization_only(self):
        os.makedirs(os.path.dirname(self.token_file))
        with open(self.token_file, "w", encoding="utf-8") as f:
            json.dump({"refresh_token": "rt-ms"}, f)
        self.server.answers["/token"].append(
            (400, {"error": "invalid_grant", "error_description": "AADSTS70008: expired"}))
        r = self.run_script(provider="microsoft")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("AADSTS70008", r.stderr)
        self.assertIn("--reauthorize", r.stderr)
        self.assertNotIn("7 days", r.stderr)
        self.assertNotIn("rt-ms", r.stderr)

    def test_a_denied_authorization_fails(self):
        self.server.answers["/device"].append((200, {
            "device_code": "d", "user_code": "U", "verification_uri": "https://x/device",
            "interval": 1}))
        self.server.answers["/token"].append((400, {"error": "access_denied"}))
        r = self.run_script()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("access_denied", r.stderr)
        self.assertFalse(os.path.exists(self.token_file))

    def test_microsoft_uses_the_device_flow_by_default(self):
        self.server.answers["/device"].append((200, {
            "device_code": "dev-ms", "user_code": "MS-CODE",
            "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 60,
            "interval": 1}))
        self.server.answers["/token"].append((200, {
            "access_token": "at-ms", "refresh_token": "rt-ms", "expires_in": 3600}))
        r = subprocess.run(self.script_args("microsoft", ["--no-browser"]), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "at-ms\n")
        self.assertIn("MS-CODE", r.stderr)
        self.assertEqual([p for p, _ in self.server.requests], ["/device", "/token"])
        device = self.server.requests[0][1]
        self.assertEqual(device["scope"],
                         "https://outlook.office.com/IMAP.AccessAsUser.All offline_access")
        # A public client: no secret is sent anywhere.
        self.assertNotIn("client_secret", self.server.requests[1][1])
        self.assertEqual(stat.S_IMODE(os.stat(self.token_file).st_mode), 0o600)
        self.assertEqual(self.stored()["refresh_token"], "rt-ms")

    def test_help(self):
        r = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertIn("device-code flow", r.stdout)
        self.assertIn("authorization-code flow with PKCE", r.stdout)
        self.assertIn("--token-file", r.stdout)
        self.assertIn("--flow", r.stdout)
        self.assertIn("--no-browser", r.stdout)
        self.assertNotIn("--token-url", r.stdout)
        self.assertNotIn("--auth-url", r.stdout)


def s256(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class RunningScript:
    """The script started in the background, its stderr read line by line
    by a thread so that the test can wait for the sign-in URL."""

    def __init__(self, args, env=None):
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=env)
        self.lines = queue.Queue()
        self.stderr_lines = []
        self.stdout = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            self.lines.put(line)

    def wait_for_line(self, prefix, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no stderr line starting with %r; got: %r"
                                     % (prefix, "".join(self.stderr_lines)))
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line.strip()

    def finish(self, timeout=60):
        self.stdout = self.process.stdout.read()
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=timeout)
        self.process.stdout.close()
        self.process.stderr.close()
        return self.process.returncode

    @property
    def stderr(self):
        return "".join(self.stderr_lines)


def get(url):
    """A GET as the browser makes it; returns (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


class AuthCodeFlowTest(unittest.TestCase):
    """The authorization-code flow with PKCE and a loopback redirect, with
    the test as the browser and the fake server as the provider."""

    def setUp(self):
        self.server = FakeOAuthServer()
        self.dir = tempfile.TemporaryDirectory()
        self.token_file = os.path.join(self.dir.name, "state", "gmail.oauth2")
        self.script = None

    def tearDown(self):
        if self.script is not None and self.script.process.poll() is None:
            self.script.process.kill()
            self.script.finish()
        self.server.close()
        self.dir.cleanup()

    def start(self, *extra, provider="gmail", env=None, browser=False):
        args = [sys.executable, SCRIPT, "--provider", provider, "--client-id", "cid",
                "--token-file", self.token_file,
                "--auth-url", self.server.url + "/auth",
                "--device-url", self.server.url + "/device",
                "--token-url", self.server.url + "/token"]
        if provider == "gmail":
            args += ["--client-secret", "csecret"]
        if not browser:
            args.append("--no-browser")
        self.script = RunningScript(args + list(extra), env=env)
        return self.script

    def sign_in_url(self):
        """The URL the script printed, split into its parts."""
        line = self.script.wait_for_line(self.server.url + "/auth?")
        url = urllib.parse.urlsplit(line)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        return line, query

    def expect_code_exchange(self, code, challenge, redirect_uri):
        """Queues the token endpoint's answer: the tokens if the request
        redeems `code` with the verifier of `challenge`, else invalid_grant,
        as a provider checks PKCE (RFC 7636 §4.6)."""
        def answer(fields):
            if (fields.get("grant_type") == "authorization_code"
                    and fields.get("code") == code
                    and fields.get("redirect_uri") == redirect_uri
                    and s256(fields.get("code_verifier", "")) == challenge):
                return 200, {"access_token": "at-code", "refresh_token": "rt-code",
                             "expires_in": 3599, "token_type": "Bearer"}
            return 400, {"error": "invalid_grant", "error_description": "PKCE or code mismatch"}
        self.server.answers["/token"].append((None, answer))

    def redirect(self, redirect_uri, **params):
        return get(redirect_uri + "?" + urllib.parse.urlencode(params))

    def test_gmail_signs_in_through_the_browser_with_pkce(self):
        self.start()
        line, query = self.sign_in_url()
        self.assertEqual(query["client_id"], "cid")
        self.assertEqual(query["response_type"], "code")
        self.assertEqual(query["scope"], "https://mail.google.com/")
        self.assertEqual(query["code_challenge_method"], "S256")
        # An S256 challenge is a base64url SHA-256: 43 characters, no padding.
        challenge = query["code_challenge"]
        self.assertEqual(len(challenge), 43)
        self.assertTrue(set(challenge) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), challenge)
        self.assertGreaterEqual(len(query["state"]), 16)
        # Google returns a refresh token only with these.
        self.assertEqual(query["access_type"], "offline")
        self.assertEqual(query["prompt"], "consent")
        # The secret never travels in a URL the browser sees.
        self.assertNotIn("csecret", line)
        redirect_uri = query["redirect_uri"]
        parts = urllib.parse.urlsplit(redirect_uri)
        self.assertEqual(parts.scheme, "http")
        self.assertEqual(parts.hostname, "127.0.0.1")
        self.assertGreater(parts.port, 0)
        self.assertEqual(parts.path, "/")

        self.expect_code_exchange("code-1", challenge, redirect_uri)
        status, page = self.redirect(redirect_uri, code="code-1", state=query["state"],
                                     scope="https://mail.google.com/")
        self.assertEqual(status, 200)
        self.assertIn("authorized", page)
        self.assertEqual(self.script.finish(), 0, self.script.stderr)
        self.assertEqual(self.script.stdout, "at-code\n")

        # One token request: the code with its verifier, and the secret.
        self.assertEqual([p for p, _ in self.server.requests], ["/token"])
        fields = self.server.requests[0][1]
        self.assertEqual(fields["grant_type"], "authorization_code")
        self.assertEqual(fields["client_id"], "cid")
        self.assertEqual(fields["client_secret"], "csecret")
        self.assertEqual(s256(fields["code_verifier"]), challenge)
        self.assertNotIn(fields["code_verifier"], line)

        stderr = self.script.stderr
        for secret in ("csecret", "at-code", "rt-code", "code-1", fields["code_verifier"]):
            self.assertNotIn(secret, stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.token_file).st_mode), 0o600)
        with open(self.token_file, encoding="utf-8") as f:
            stored = json.load(f)
        self.assertEqual(stored["refresh_token"], "rt-code")
        self.assertEqual(stored["access_token"], "at-code")

        # The next run uses the cached token: no browser, no request.
        r = subprocess.run([sys.executable, SCRIPT, "--provider", "gmail", "--client-id", "cid",
                            "--token-file", self.token_file, "--no-browser",
                            "--auth-url", self.server.url + "/auth",
                            "--token-url", self.server.url + "/token"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "at-code\n")
        self.assertEqual(len(self.server.requests), 1)

    def test_a_redirect_with_the_wrong_state_is_refused(self):
        self.start()
        _, query = self.sign_in_url()
        redirect_uri = query["redirect_uri"]
        self.expect_code_exchange("good-code", query["code_challenge"], redirect_uri)
        # A forged redirect (another tab, another site guessing the port):
        # refused, and its code is never redeemed.
        status, page = self.redirect(redirect_uri, code="forged-code", state="not-the-state")
        self.assertEqual(status, 400)
        self.assertIn("state", page)
        status, _ = self.redirect(redirect_uri, code="forged-code")
        self.assertEqual(status, 400)
        status, _ = get(redirect_uri + "favicon.ico")
        self.assertEqual(status, 404)
        self.assertIsNone(self.script.process.poll())
        # The real one still goes through.
        status, _ = self.redirect(redirect_uri, code="good-code", state=query["state"])
        self.assertEqual(status, 200)
        self.assertEqual(self.script.finish(), 0, self.script.stderr)
        self.assertEqual(self.script.stdout, "at-code\n")
        codes = [f.get("code") for p, f in self.server.requests if p == "/token"]
        self.assertEqual(codes, ["good-code"])

    def test_no_redirect_times_out_with_a_clear_message(self):
        started = time.monotonic()
        self.start("--auth-timeout", "1")
        self.sign_in_url()
        self.assertEqual(self.script.finish(), 1)
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual(self.script.stdout, "")
        self.assertIn("no authorization arrived within 1 seconds", self.script.stderr)
        self.assertIn("--auth-timeout", self.script.stderr)
        self.assertEqual(self.server.requests, [])
        self.assertFalse(os.path.exists(self.token_file))

    def test_a_denied_consent_fails(self):
        self.start()
        _, query = self.sign_in_url()
        status, _ = self.redirect(query["redirect_uri"], error="access_denied",
                                  state=query["state"])
        self.assertEqual(status, 200)
        self.assertEqual(self.script.finish(), 1)
        self.assertEqual(self.script.stdout, "")
        self.assertIn("access_denied", self.script.stderr)
        self.assertIn("test users", self.script.stderr)
        self.assertEqual(self.server.requests, [])
        self.assertFalse(os.path.exists(self.token_file))

    def test_a_code_the_token_endpoint_refuses_fails(self):
        # The endpoint sees a verifier that does not match (here: a challenge
        # the script never sent), as it would if the code had been stolen.
        self.start()
        _, query = self.sign_in_url()
        self.expect_code_exchange("c", "some-other-challenge", query["redirect_uri"])
        self.redirect(query["redirect_uri"], code="c", state=query["state"])
        self.assertEqual(self.script.finish(), 1)
        self.assertEqual(self.script.stdout, "")
        self.assertIn("invalid_grant", self.script.stderr)
        self.assertFalse(os.path.exists(self.token_file))

    def test_microsoft_with_flow_auth_code(self):
        self.start("--flow", "auth-code", "--tenant", "contoso", provider="microsoft")
        _, query = self.sign_in_url()
        self.assertEqual(query["scope"],
                         "https://outlook.office.com/IMAP.AccessAsUser.All offline_access")
        self.assertNotIn("access_type", query)
        self.expect_code_exchange("ms-code", query["code_challenge"], query["redirect_uri"])
        self.redirect(query["redirect_uri"], code="ms-code", state=query["state"])
        self.assertEqual(self.script.finish(), 0, self.script.stderr)
        self.assertEqual(self.script.stdout, "at-code\n")
        self.assertNotIn("client_secret", self.server.requests[0][1])

    def test_the_browser_is_opened_and_its_output_kept_off_stdout(self):
        # A fake browser (through $BROWSER, which the webbrowser module
        # honours) that records the URL and chatters on stdout, as console
        # browsers do: roam reads stdout as the token, so none of it may
        # arrive there.
        opened = os.path.join(self.dir.name, "opened")
        browser = os.path.join(self.dir.name, "browser")
        with open(browser, "w", encoding="utf-8") as f:
            f.write("#!/bin/sh\necho browser-noise\nprintf '%%s\\n' \"$1\" >> %s\n" % opened)
        os.chmod(browser, 0o755)
        env = dict(os.environ, BROWSER=browser)
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        self.start(env=env, browser=True)
        line, query = self.sign_in_url()
        deadline = time.monotonic() + 30
        while not os.path.exists(opened) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(opened, encoding="utf-8") as f:
            self.assertEqual(f.read(), line + "\n")
        self.expect_code_exchange("b-code", query["code_challenge"], query["redirect_uri"])
        self.redirect(query["redirect_uri"], code="b-code", state=query["state"])
        self.assertEqual(self.script.finish(), 0, self.script.stderr)
        self.assertEqual(self.script.stdout, "at-code\n")
        self.assertIn("browser-noise", self.script.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
