"""The plain baseline of the free-threaded section in `npm run bench`: the benchmark's `spin`
run `calls` times on 1 thread and then on 2 plain threads of this process, no bridge at all.
What 2 threads give on this machine right now, so the thread profile's figure can be told
apart from the machine's own limit. Prints {"one": seconds, "two": seconds}.

    python spin_threads.py ITERATIONS CALLS
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "adapters"))

from bench_adapters import _spin  # noqa: E402


def timed(threads, calls, iterations):
    def work(n):
        for _ in range(n):
            _spin(iterations)

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(calls // threads,)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started


def main():
    iterations, calls = int(sys.argv[1]), int(sys.argv[2])
    print(json.dumps({"one": timed(1, calls, iterations), "two": timed(2, calls, iterations)}))


if __name__ == "__main__":
    main()
