#!/usr/bin/env python3
"""Unit test of capfilter.py's filtering (no server needed): capabilities are
hidden in the greeting, CAPABILITY replies and [CAPABILITY] codes, chosen
response codes are stripped, and literals pass through untouched even when
they contain text that looks like a response."""

import importlib.util
import os
import socket
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("capfilter", os.path.join(HERE, "capfilter.py"))
capfilter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(capfilter)


class FilterTest(unittest.TestCase):
    def setUp(self):
        self.filter = capfilter.Filter(["UIDPLUS", "MOVE"], ["APPENDUID", "COPYUID"])

    def test_lines(self):
        cases = [
            (b"* OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE IDLE] ready\r\n",
             b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
            (b"* CAPABILITY IMAP4rev1 MOVE COMPRESS=DEFLATE UIDPLUS X-MOVED\r\n",
             b"* CAPABILITY IMAP4rev1 X-MOVED\r\n"),
            (b"a1 OK [APPENDUID 12 3] Append completed.\r\n", b"a1 OK Append completed.\r\n"),
            (b"a2 OK [COPYUID 1 2:3 4:5] Done\r\n", b"a2 OK Done\r\n"),
            (b"a3 OK [READ-WRITE] Select completed\r\n", b"a3 OK [READ-WRITE] Select completed\r\n"),
            (b"a4 OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n", b"a4 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
        ]
        for given, wanted in cases:
            with self.subTest(given=given):
                self.assertEqual(self.filter.line(given), wanted)

    def test_literals_pass_untouched(self):
        body = b"* CAPABILITY UIDPLUS\r\na1 OK [APPENDUID 1 2] x\r\n"
        server_data = (b"* 1 FETCH (UID 7 BODY[] {" + str(len(body)).encode() + b"}\r\n" + body +
                       b")\r\n* CAPABILITY IMAP4rev1 UIDPLUS\r\n")
        upstream, proxy_side = socket.socketpair()
        proxy_out, client = socket.socketpair()
        pump = threading.Thread(target=capfilter.pump_server, args=(proxy_side, proxy_out, self.filter))
        pump.start()
        upstream.sendall(server_data)
        upstream.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
        pump.join()
        self.assertEqual(received, server_data.replace(b"IMAP4rev1 UIDPLUS\r\n", b"IMAP4rev1\r\n"))
        for s in (upstream, proxy_side, proxy_out, client):
            s.close()


if __name__ == "__main__":
    sys.exit(unittest.main())
