#!/usr/bin/python3
"""Crash test of the block cache: kill -9 at random moments, restart over
the same cache, check that nothing flushed is lost and nothing never written
appears; finally a cold start with an empty cache must read the same data
from the store alone.

    cache_crash.py --cmd 'SERVER COMMAND' [--rounds 30] [--size BYTES]
                   [--seed N] [--work DIR] [--budget SECONDS] [--run-max S]

The server command is a template; {sock}, {cache} and {store} are replaced
by a unix socket path, a cache file path and a store directory in the work
directory. It must serve one NBD export on {sock} until SIGTERM (then exit
0, having uploaded everything), keep its persistent cache in {cache} (and
{cache}.lmdb), and its blocks in {store} (or wherever the command says: the
store must survive restarts).

The workload client runs in its own process (this script, --client): it
writes 4 KiB sectors, each stamped with the write's sequence number, its
offset and a pattern derived from both, in requests of 1 to 32 sectors
(partial and whole cache blocks), zeroes ranges, flushes now and then, uses
FUA sometimes and reads back what it wrote. It logs to a journal, before
each request, what it issues ("I seq kind first count fua") and after, what
was acknowledged ("A seq", "F" for a completed flush), so the driver knows
what each flush covered. The driver kills the server with SIGKILL at a
random moment (sometimes during start-up recovery), restarts it, and reads
the whole volume: every sector must hold a version no older than the last
one made durable (acknowledged before a completed flush, or written with
FUA), and every byte must belong to a version that was issued.

Exit status 0 on success, 1 on a violation (printed), 77 when the nbd
module is missing.
"""

import argparse
import os
import random
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

try:
    import nbd
except ImportError:
    print("SKIP: python3 has no nbd module (python3-libnbd)", file=sys.stderr)
    sys.exit(77)

SECTOR = 4096
MAGIC = b"USBDCRSH"
GOLDEN = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def stamp(seq, sector):
    word = struct.pack("<Q", ((seq * GOLDEN) ^ (sector * 0xD1B54A32D192ED03)) & MASK)
    head = MAGIC + struct.pack("<QQ", seq, sector)
    return head + word * ((SECTOR - len(head)) // 8)


ZERO = bytes(SECTOR)


def content_seq(data, sector):
    """0 for zeros, the stamp's sequence number, or None for anything else."""
    if data == ZERO:
        return 0
    if data[:8] != MAGIC:
        return None
    seq, where = struct.unpack("<QQ", data[8:24])
    if where != sector or data != stamp(seq, sector):
        return None
    return seq


# --- the workload client ------------------------------------------------------

def run_client(args):
    rng = random.Random(args.seed)
    sectors = args.size // SECTOR
    journal = open(args.journal, "a", buffering=1)
    h = nbd.NBD()
    h.connect_unix(args.sock)
    # What the client itself wrote and saw acknowledged, to check reads
    # while the server is alive (other sectors: the driver checks them).
    latest = {}
    seq = args.first_seq
    # Some rounds flush often, some rarely: rare flushes let the write-back
    # upload blocks whose new content is not committed yet.
    flush_rate = rng.choice([0.1, 0.02, 0.002, 0.0])

    def check(data, first, count):
        for i in range(count):
            s = first + i
            got = content_seq(data[i * SECTOR:(i + 1) * SECTOR], s)
            if s in latest and got != latest[s]:
                print(f"CLIENT: sector {s} reads version {got}, expected "
                      f"{latest[s]} (no crash in between)", file=sys.stderr)
                journal.write("X\n")
                sys.exit(3)

    try:
        while True:
            if rng.random() < flush_rate:
                journal.write("S\n")
                h.flush()
                journal.write("F\n")
                continue
            r = rng.random()
            if r < 0.7:
                count = rng.choice([1, 1, 2, 3, 8, 16, 16, 32])
                first = rng.randrange(0, sectors - count + 1)
                fua = rng.random() < 0.05
                seq += 1
                journal.write(f"I {seq} w {first} {count} {int(fua)}\n")
                buf = b"".join(stamp(seq, first + i) for i in range(count))
                h.pwrite(buf, first * SECTOR, nbd.CMD_FLAG_FUA if fua else 0)
                journal.write(f"A {seq}\n")
                for i in range(count):
                    latest[first + i] = seq
            elif r < 0.82:
                count = rng.choice([1, 4, 16, 32, 64])
                first = rng.randrange(0, sectors - count + 1)
                seq += 1
                journal.write(f"I {seq} z {first} {count} 0\n")
                h.zero(count * SECTOR, first * SECTOR)
                journal.write(f"A {seq}\n")
                for i in range(count):
                    latest[first + i] = 0
            else:
                count = rng.choice([1, 8, 32])
                first = rng.randrange(0, sectors - count + 1)
                check(h.pread(count * SECTOR, first * SECTOR), first, count)
    except nbd.Error:
        pass  # the server was killed: expected
    journal.close()
    return 0


# --- the model ------------------------------------------------------------------

class Model:
    """Per sector: the version that must at least be there (floor), and the
    versions issued since (any of which may have survived a crash)."""

    def __init__(self, sectors, acked_durable=False):
        # acked_durable: a kill -9 keeps every acknowledged write, not only
        # flushed ones (usbd's write log); a power cut would not.
        self.acked_durable = acked_durable
        self.floor = [0] * sectors          # seq; 0 = zeros
        self.since = [[] for _ in range(sectors)]
        self.zero_ops = set()               # seqs of zero requests
        self.next_seq = 1

    def replay(self, journal_lines):
        issued = {}
        acked_unflushed = []                # (seq, first, count) since flush
        for line in journal_lines:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "I":
                seq, kind = int(parts[1]), parts[2]
                first, count, fua = int(parts[3]), int(parts[4]), parts[5] == "1"
                issued[seq] = (first, count, fua)
                if kind == "z":
                    self.zero_ops.add(seq)
                for s in range(first, first + count):
                    self.since[s].append(seq)
                self.next_seq = max(self.next_seq, seq + 1)
            elif parts[0] == "A":
                seq = int(parts[1])
                first, count, fua = issued[seq]
                if fua or self.acked_durable:
                    self.make_durable(seq, first, count)
                else:
                    acked_unflushed.append((seq, first, count))
            elif parts[0] == "F":
                for seq, first, count in acked_unflushed:
                    self.make_durable(seq, first, count)
                acked_unflushed = []
            elif parts[0] == "X":
                raise AssertionError("the client saw a wrong read")

    def make_durable(self, seq, first, count):
        for s in range(first, first + count):
            if seq > self.floor[s]:
                self.floor[s] = seq
                self.since[s] = [q for q in self.since[s] if q > seq]

    def allowed(self, s):
        return [self.floor[s]] + self.since[s]

    def check(self, image, where):
        """Verifies the volume image; then what it holds is the new floor
        (it is durable: the cache recovered it from its index or the store
        holds it)."""
        bad = []
        for s in range(len(self.floor)):
            data = image[s * SECTOR:(s + 1) * SECTOR]
            got = content_seq(data, s)
            allowed = self.allowed(s)
            ok = False
            if got == 0:
                ok = any(q == 0 or q in self.zero_ops for q in allowed)
            elif got is not None:
                ok = got in allowed and got not in self.zero_ops
            if not ok:
                bad.append((s, got, self.floor[s], allowed[-5:]))
                continue
            if got == 0:
                zeros = [q for q in allowed if q == 0 or q in self.zero_ops]
                self.floor[s] = max(zeros)
            else:
                self.floor[s] = got
            self.since[s] = []
        for s, got, floor, allowed in bad[:20]:
            what = ("garbage (never written)" if got is None
                    else f"version {got}")
            print(f"FAIL {where}: sector {s} holds {what}; at least version "
                  f"{floor} was flushed; allowed {allowed}", file=sys.stderr)
        return not bad


# --- the driver -------------------------------------------------------------------

class Server:
    def __init__(self, template, paths, log):
        self.argv = shlex.split(template.format(**paths))
        self.template = template
        self.paths = paths
        self.sock = paths["sock"]
        self.log = log
        self.proc = None

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log.write(f"--- start {time.strftime('%T')}\n")
        self.log.flush()
        self.proc = subprocess.Popen(self.argv, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}"
                                   " during start")
            if os.path.exists(self.sock):
                try:
                    h = nbd.NBD()
                    h.connect_unix(self.sock)
                    h.shutdown()
                    return
                except nbd.Error:
                    pass
            time.sleep(0.02)
        raise RuntimeError("server did not come up")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def remove_cache(path):
    for suffix in ("", ".lmdb"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)


def compare_cold(server, warm, size, where):
    """Stops the server cleanly (it uploads everything), reads the volume
    through a server with an empty cache of its own, and compares: a clean
    cache entry that disagrees with the store shows up here. Restarts the
    server over its own cache afterwards."""
    status = server.stop()
    if status != 0:
        print(f"FAIL {where}: server exited {status} after SIGTERM",
              file=sys.stderr)
        return False
    cold_paths = dict(server.paths, cache=server.paths["cache"] + "-cold")
    remove_cache(cold_paths["cache"])
    cold = Server(server.template, cold_paths, server.log)
    cold.start()
    cold.wait_ready()
    image = read_image(cold.sock, size)
    cold.stop()
    remove_cache(cold_paths["cache"])
    server.start()
    server.wait_ready()
    if image == warm:
        return True
    diff = [s for s in range(len(warm) // SECTOR)
            if image[s * SECTOR:(s + 1) * SECTOR] !=
            warm[s * SECTOR:(s + 1) * SECTOR]]
    print(f"FAIL {where}: the store alone reads {len(diff)} sectors "
          f"differently from the cache, e.g. sectors {diff[:10]}",
          file=sys.stderr)
    return False


def read_image(sock, size):
    h = nbd.NBD()
    h.connect_unix(sock)
    chunks = []
    step = 4 << 20
    for off in range(0, size, step):
        chunks.append(h.pread(min(step, size - off), off))
    h.shutdown()
    return b"".join(chunks)


def tail(path, n=30):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cmd", default=os.environ.get("USBD_CACHE_CMD"))
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--size", type=int, default=32 << 20)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--work", default=None)
    p.add_argument("--budget", type=float, default=170)
    p.add_argument("--run-max", type=float, default=2.0,
                   help="longest time the client writes before a kill")
    p.add_argument("--acked", action="store_true",
                   help="every acknowledged write must survive a kill")
    p.add_argument("--client", action="store_true")
    p.add_argument("--sock")
    p.add_argument("--journal")
    p.add_argument("--first-seq", type=int, default=0)
    args = p.parse_args()
    if args.client:
        return run_client(args)
    if not args.cmd:
        p.error("--cmd (or USBD_CACHE_CMD) is required")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    work = args.work or tempfile.mkdtemp(prefix="usbd-cache-crash.")
    os.makedirs(os.path.join(work, "store"), exist_ok=True)
    paths = {"sock": os.path.join(work, "sock"),
             "cache": os.path.join(work, "cache"),
             "store": os.path.join(work, "store"),
             "size": str(args.size)}
    log_path = os.path.join(work, "server.log")
    journal = os.path.join(work, "journal")
    print(f"cache crash test: seed {seed}, work directory {work}",
          file=sys.stderr)
    started = time.time()
    model = Model(args.size // SECTOR, args.acked)
    with open(log_path, "a") as log:
        server = Server(args.cmd, paths, log)
        server.start()
        server.wait_ready()
        kills = 0
        replayed = 0
        for rnd in range(args.rounds):
            if time.time() - started > args.budget:
                print(f"note: time budget spent after {rnd} rounds",
                      file=sys.stderr)
                break
            client = subprocess.Popen(
                [sys.executable, __file__, "--client", "--sock", paths["sock"],
                 "--journal", journal, "--size", str(args.size),
                 "--seed", str(rng.randrange(1 << 30)),
                 "--first-seq", str(model.next_seq)])
            time.sleep(rng.uniform(0.1, args.run_max))
            server.kill()
            kills += 1
            if client.wait(timeout=60) == 3:
                print(f"FAIL round {rnd}: the client read something it had "
                      "not written", file=sys.stderr)
                print(tail(log_path), file=sys.stderr)
                return 1
            with open(journal) as f:
                lines = f.readlines()
            model.replay(lines[replayed:])
            replayed = len(lines)
            server.start()
            if rng.random() < 0.15:
                # Kill it again while it recovers and re-uploads.
                time.sleep(rng.uniform(0.0, 0.15))
                server.kill()
                kills += 1
                server.start()
            server.wait_ready()
            image = read_image(paths["sock"], args.size)
            where = f"after kill {kills} (round {rnd})"
            if not model.check(image, where):
                print(tail(log_path), file=sys.stderr)
                return 1
            if rnd % 6 == 5 and not compare_cold(server, image, args.size,
                                                 where):
                print(tail(log_path), file=sys.stderr)
                return 1
        # Finally: the store alone, with an empty cache in the same place.
        warm = read_image(paths["sock"], args.size)
        status = server.stop()
        if status != 0:
            print(f"FAIL: server exited {status} after SIGTERM",
                  file=sys.stderr)
            print(tail(log_path), file=sys.stderr)
            return 1
        remove_cache(paths["cache"])
        server.start()
        server.wait_ready()
        cold = read_image(paths["sock"], args.size)
        server.stop()
        if cold != warm:
            diff = [s for s in range(len(warm) // SECTOR)
                    if cold[s * SECTOR:(s + 1) * SECTOR] !=
                    warm[s * SECTOR:(s + 1) * SECTOR]]
            print(f"FAIL: a cold start reads {len(diff)} sectors differently "
                  f"from the store alone, e.g. {diff[:10]}", file=sys.stderr)
            return 1
    written = sum(1 for s in range(len(warm) // SECTOR)
                  if warm[s * SECTOR:(s + 1) * SECTOR] != ZERO)
    print(f"PASS: {kills} kills in {time.time() - started:.0f} s, "
          f"{model.next_seq} versions written, {written} sectors hold data; "
          "cold start reads the same", file=sys.stderr)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
