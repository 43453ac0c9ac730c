#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that adds round-trip time, for bench/bench.sh.

    delay_proxy.py --target-port PORT --rtt MS [--mbit RATE] [--listen-port PORT]
                   [--target-host HOST] [--port-file FILE]

Every chunk of bytes read from either side is stamped with its arrival time
and written to the other side at arrival + MS/2, so each direction gets half
of the round-trip time, as on a link between a user and a mail provider.
Order is kept, and the delay is a pure delay line: nothing is rate-limited,
and a later chunk never waits longer than its own MS/2 (the chunks in flight
are not serialised behind one another's sleeps).

--mbit RATE adds a link of RATE megabits per second in each direction,
shared by all connections, as a user's line is: a chunk first waits for the
link to be free, takes its size / RATE to cross it, and then the MS/2 of
delay (serialisation, then propagation). Without it the link is unlimited.
That is what shows what compression gains.

The proxy binds before it reports its port, so a caller can start it with
--listen-port 0 (the default, any free port) and read the chosen port from
the first line of stdout, or from --port-file once that file is non-empty.
Each connection is logged to stderr when it opens and when it closes (with
the bytes moved each way), so that a caller can check that a client really
went through the proxy. SIGTERM and SIGINT print a summary and exit 0.
Standard library only.
"""

import argparse
import asyncio
import os
import signal
import socket
import sys
import time

CHUNK = 1 << 16
# Bytes read but not yet written, per direction, before the proxy stops
# reading from the sender. Far above what a delay line on loopback holds
# (bandwidth x delay), so it never limits bandwidth; it only bounds memory
# when the receiver stops reading.
HIGH_WATER = 64 << 20


class Stats:
    def __init__(self):
        self.opened = 0
        self.open_now = 0
        self.failed = 0
        self.up = 0  # client -> server bytes
        self.down = 0  # server -> client bytes


class Link:
    """One direction of a link of limited bandwidth, shared by every
    connection: when the last chunk sent over it has left."""

    def __init__(self, mbit):
        self.seconds_per_byte = 8 / (mbit * 1e6) if mbit else 0.0
        self.free_at = 0.0

    def leaves(self, arrived, size):
        """When a chunk of `size` bytes that arrived at `arrived` has
        crossed the link (arrived itself without a limit)."""
        if not self.seconds_per_byte:
            return arrived
        start = max(arrived, self.free_at)
        self.free_at = start + size * self.seconds_per_byte
        return self.free_at


def log(msg):
    print(f"delay_proxy: {time.monotonic():.3f} {msg}", file=sys.stderr, flush=True)


def nodelay(writer):
    # asyncio sets TCP_NODELAY on its TCP transports already; setting it here
    # too makes the intent explicit, since Nagle's algorithm combined with a
    # delayed ACK would add up to 40 ms on top of the delay we mean to add.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


async def pump(reader, writer, delay, link):
    """Copy reader to writer, each chunk delayed by `delay` seconds from when
    it has crossed `link` (see Link). Returns the bytes copied. End of stream is forwarded as a
    half-close (write_eof) after the same delay, so that a client that shuts
    down its sending side still gets the rest of the answer."""
    queue = asyncio.Queue()
    pending = 0
    drained = asyncio.Event()
    drained.set()
    total = 0

    async def deliver():
        nonlocal pending
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
                pending -= len(data)
                if pending < HIGH_WATER:
                    drained.set()
            if writer.can_write_eof():
                writer.write_eof()
        finally:
            # A reader paused at the high-water mark must not wait for a
            # writer that has failed.
            drained.set()

    task = asyncio.create_task(deliver())
    loop = asyncio.get_running_loop()
    try:
        while True:
            await drained.wait()
            data = await reader.read(CHUNK)
            # The clock is read once the bytes are here: the delay counts from
            # arrival, not from when the previous chunk left.
            arrived = loop.time()
            if not data:
                queue.put_nowait((arrived + delay, None))
                break
            total += len(data)
            pending += len(data)
            if pending >= HIGH_WATER:
                drained.clear()
            queue.put_nowait((link.leaves(arrived, len(data)) + delay, data))
            if task.done():
                break  # the other side is gone; stop reading
    except (ConnectionError, OSError):
        queue.put_nowait((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass
    return total


async def handle(client_reader, client_writer, args, stats, delay, links):
    stats.opened += 1
    stats.open_now += 1
    number = stats.opened
    peer = client_writer.get_extra_info("peername")
    try:
        server_reader, server_writer = await asyncio.open_connection(args.target_host, args.target_port)
    except OSError as e:
        stats.failed += 1
        stats.open_now -= 1
        log(f"fail #{number} from {peer}: cannot reach {args.target_host}:{args.target_port}: {e}")
        client_writer.close()
        return
    log(f"open #{number} from {peer} ({stats.open_now} open)")
    nodelay(client_writer)
    nodelay(server_writer)
    up, down = await asyncio.gather(pump(client_reader, server_writer, delay, links[0]),
                                    pump(server_reader, client_writer, delay, links[1]),
                                    return_exceptions=True)
    for w in (client_writer, server_writer):
        w.close()
    for w in (client_writer, server_writer):
        try:
            await w.wait_closed()
        except (ConnectionError, OSError):
            pass
    up = up if isinstance(up, int) else 0
    down = down if isinstance(down, int) else 0
    stats.up += up
    stats.down += down
    stats.open_now -= 1
    log(f"close #{number} up {up} down {down} ({stats.open_now} open)")


async def main(args):
    delay = args.rtt / 2000.0
    stats = Stats()
    links = (Link(args.mbit), Link(args.mbit))  # up, down
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args, stats, delay, links),
        "127.0.0.1", args.listen_port, backlog=256)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    if args.port_file:
        # Written to a temporary name and renamed, so a reader polling for a
        # non-empty file never sees half a number.
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    log(f"listening on 127.0.0.1:{port} -> {args.target_host}:{args.target_port}, "
        f"rtt {args.rtt:g} ms ({args.rtt / 2:g} ms each way)"
        + (f", {args.mbit:g} Mbit/s each way" if args.mbit else ""))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    log(f"stopping: {stats.opened} connections ({stats.failed} failed, {stats.open_now} still open), "
        f"{stats.up} bytes up, {stats.down} bytes down")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target-port", type=int, required=True)
    p.add_argument("--target-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, default=0, help="0 = any free port (printed on stdout)")
    p.add_argument("--rtt", type=float, required=True, help="round-trip time to add, in ms")
    p.add_argument("--mbit", type=float, default=0,
                   help="bandwidth of the link each way, in Mbit/s, shared by all connections (0 = unlimited)")
    p.add_argument("--port-file", help="also write the chosen port to this file")
    args = p.parse_args(argv)
    if args.rtt < 0:
        p.error("--rtt must not be negative")
    if args.mbit < 0:
        p.error("--mbit must not be negative")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args(sys.argv[1:])))
