"""Answer signing off the event loop: RSA signing releases the GIL, so it can run in parallel.

An answer's RSA-SHA256 signature is most of a gateway call's CPU (about 0.25-0.8 ms of 2048-bit
RSA, by machine). ``cryptography`` releases the interpreter lock while it signs, so a few
threads sign while the event loop parses, checks and answers other calls: one process then
uses a second core for the one part of a call that can run beside the rest. The loop keeps
a CPU of its own, so there is one thread per other CPU: on two CPUs, a second signing thread
answered about 10% fewer ``inquiryPayment`` calls a second and no more ``pay`` calls (each
thread takes the interpreter lock three times a signature, and the loop then waits for it;
measured with bench/gateway.py's servers, #15). With fewer than two CPUs (or
``ALIPAY_EMULATOR_SIGNING_THREADS=0``) the thread hop would be pure overhead and signing stays
inline. Each ``--workers`` process has its own threads. A network database's calls
run on a worker thread already and sign there (``gateway/router.py``).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives.asymmetric import rsa

from .signing import sign

# More threads than this only queue on the same cores: the event loop feeds them one call at a
# time, and each signature takes a whole core while it runs.
MAX_AUTO_THREADS = 4


def auto_threads(cpus: int | None) -> int:
    """Threads for ``cpus`` CPUs: none below two (inline), else one per CPU beside the event
    loop's, up to the cap."""
    count = cpus or 1
    return 0 if count < 2 else min(count - 1, MAX_AUTO_THREADS)


def usable_cpus() -> int | None:
    """The CPUs this process may run on (its affinity, e.g. ``docker --cpuset-cpus``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count()


class Signer:
    """Signs answers in ``threads`` threads (0: inline, on the caller's thread)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = auto_threads(usable_cpus()) if threads is None else threads
        self._pool = (
            ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sign")
            if self.threads > 0
            else None
        )

    async def sign(self, message: bytes, key: rsa.RSAPrivateKey) -> str:
        """``signing.sign(message, key)``, on a signing thread when there are any."""
        if self._pool is None:
            return sign(message, key)
        return await asyncio.get_running_loop().run_in_executor(self._pool, sign, message, key)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
