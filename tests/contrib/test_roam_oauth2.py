#!/usr/bin/env python3
"""Tests of contrib/roam-oauth2 against a fake OAuth server on 127.0.0.1.

The real providers cannot be reached from a test, so a tiny http.server in
this process plays the device and token endpoints, and the script is pointed
at it with its hidden --device-url and --token-url options. Each test runs
the script as roam would (a subprocess whose stdout is the token) and checks
what it printed, what it asked the server and what it left in the token file.
"""

import http.server
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

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
                queue = fake.answers.get(self.path)
                if queue:
                    status, body = queue.pop(0)
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

    def run_script(self, *extra):
        args = [sys.executable, SCRIPT, "--provider", "gmail", "--client-id", "cid",
                "--client-secret", "csecret", "--token-file", self.token_file,
                "--device-url", self.server.url + "/device",
                "--token-url", self.server.url + "/token"] + list(extra)
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

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
        self.assertNotIn("rt-revoked", r.stderr)
        self.assertNotIn("csecret", r.stderr)

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

    def test_help(self):
        r = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertIn("device-code flow", r.stdout)
        self.assertIn("--token-file", r.stdout)
        self.assertNotIn("--token-url", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
