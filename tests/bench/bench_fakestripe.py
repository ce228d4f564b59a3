"""Fake Stripe server throughput, empty and with 100k PaymentIntents (not a pytest test).

Run: `python -m tests.bench.bench_fakestripe [--intents 100000] [--state FILE]`.

Keep-alive clients (threads in a few processes, one raw http.client connection each) send
create+confirm pairs with an Idempotency-Key each, as stripe-python does. The bench reports
requests per second on an empty store, fills the store to --intents PaymentIntents, measures
again and reports the ratio, plus search-by-metadata and list latency at both points. It
writes reports/bench_fakestripe.json and reports/bench_fakestripe.png.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
API_KEY = "sk_test_bench"
HEADERS = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/x-www-form-urlencoded",
}


def start_server(state: Path | None) -> tuple[subprocess.Popen[str], int]:
    state_args = ["--state", str(state)] if state else []
    process = subprocess.Popen(
        # The fake's own speed: no modelled latency or limits.
        [sys.executable, "-m", "fakestripe", "--port", "0", "--profile", "zero", *state_args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("fakestripe listening on "):
        process.kill()
        raise RuntimeError(f"fakestripe did not start: {line!r}")
    return process, int(line.rsplit(":", 1)[1])


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(
    connection: http.client.HTTPConnection, method: str, path: str, body: str = ""
) -> bytes:
    headers = dict(HEADERS)
    if method == "POST":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path} -> {response.status}: {data[:200]!r}")
    return data


def pair(connection: http.client.HTTPConnection, payment_id: str) -> None:
    """One PaymentIntent created then confirmed: two requests."""
    created = json.loads(
        request(
            connection,
            "POST",
            "/v1/payment_intents",
            f"amount=2000&currency=usd&payment_method=pm_card_visa&metadata[payment_id]={payment_id}",
        )
    )
    request(connection, "POST", f"/v1/payment_intents/{created['id']}/confirm")


def client_process(port: int, threads: int, pairs_per_thread: int, duration: float, out) -> None:  # type: ignore[no-untyped-def]
    """Run `threads` keep-alive clients until `pairs_per_thread` pairs each or `duration` s."""
    done = [0] * threads
    deadline = time.monotonic() + duration

    def work(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        prefix = uuid.uuid4().hex[:8]
        while done[index] < pairs_per_thread and time.monotonic() < deadline:
            pair(connection, f"{prefix}-{done[index]}")
            done[index] += 1
        connection.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(sum(done))


def run_load(
    port: int, processes: int, threads: int, *, pairs: int = 10**9, duration: float = 1e9
) -> tuple[int, float]:
    """(requests sent, seconds) for create+confirm pairs from processes x threads clients."""
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    per_thread = max(1, -(-pairs // (processes * threads)))  # rounded up
    started = time.perf_counter()
    workers = [
        multiprocessing.Process(
            target=client_process, args=(port, threads, per_thread, duration, queue)
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total_pairs = sum(queue.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total_pairs * 2, time.perf_counter() - started


def read_latencies(port: int, samples: int) -> dict[str, float]:
    """Median milliseconds of a metadata search and of a 10-item list."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payment_id = f"probe-{uuid.uuid4().hex[:8]}"
    pair(connection, payment_id)
    query = quote(f"metadata['payment_id']:'{payment_id}'")
    timings: dict[str, list[float]] = {"search_ms": [], "list_ms": []}
    for _ in range(samples):
        started = time.perf_counter()
        found = json.loads(request(connection, "GET", f"/v1/payment_intents/search?query={query}"))
        timings["search_ms"].append((time.perf_counter() - started) * 1000)
        assert len(found["data"]) == 1
        started = time.perf_counter()
        request(connection, "GET", "/v1/payment_intents?limit=10")
        timings["list_ms"].append((time.perf_counter() - started) * 1000)
    connection.close()
    return {name: round(sorted(values)[len(values) // 2], 3) for name, values in timings.items()}


def intent_count(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/_fake/health")
    health = json.loads(connection.getresponse().read())
    connection.close()
    return int(health["counts"]["payment_intents"])


def measure(port: int, pid: int, label: str, args: argparse.Namespace) -> dict[str, float]:
    cpu_before = server_cpu_seconds(pid)
    sent, seconds = run_load(port, args.processes, args.threads, duration=args.duration)
    cpu = server_cpu_seconds(pid) - cpu_before
    result = {
        "requests": sent,
        "seconds": round(seconds, 3),
        "requests_per_second": round(sent / seconds, 1),
        "server_cpu_ms_per_request": round(cpu * 1000 / sent, 4),
        "intents_after": intent_count(port),
        **read_latencies(port, args.samples),
    }
    print(
        f"{label}: {result['requests_per_second']:.0f} req/s ({sent} requests in {seconds:.1f}s), "
        f"server CPU {result['server_cpu_ms_per_request']:.3f} ms/request, "
        f"search {result['search_ms']:.2f} ms, list {result['list_ms']:.2f} ms",
        flush=True,
    )
    return result


def plot(report: dict, path: Path) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(10, 4))
    labels = ["empty store", f"{report['target_intents']:,} intents"]
    rates = [report["start"]["requests_per_second"], report["full"]["requests_per_second"]]
    bars = throughput.bar(labels, rates, color=["#4c72b0", "#dd8452"])
    throughput.bar_label(bars, fmt="%.0f")
    throughput.axhline(1000, color="grey", linestyle="--", label="1,000 req/s target")
    throughput.set_ylabel("requests / second (create + confirm)")
    throughput.set_title(f"Throughput (ratio {report['ratio']:.2f})")
    throughput.legend(loc="lower right")
    width = 0.35
    for offset, key, name in ((-width / 2, "start", "empty"), (width / 2, "full", "100k")):
        values = [report[key]["search_ms"], report[key]["list_ms"]]
        latency.bar([n + offset for n in range(2)], values, width, label=name)
    latency.set_xticks(range(2), ["search by metadata", "list limit=10"])
    latency.set_ylabel("median latency (ms)")
    latency.set_title("Reads")
    latency.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=100_000, help="store size for the 2nd run")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="keep-alive clients per process")
    parser.add_argument("--samples", type=int, default=200, help="search/list probes")
    parser.add_argument("--state", type=Path, default=None, help="journal file (measures --state)")
    args = parser.parse_args()
    if args.state:
        args.state.unlink(missing_ok=True)
    process, port = start_server(args.state)
    try:
        start = measure(port, process.pid, "empty store", args)
        missing = args.intents - intent_count(port)
        fill_started = time.perf_counter()
        if missing > 0:
            sent, seconds = run_load(port, args.processes, args.threads, pairs=missing)
            print(
                f"filled to {intent_count(port):,} intents: {sent / seconds:.0f} req/s", flush=True
            )
        fill_seconds = time.perf_counter() - fill_started
        full = measure(port, process.pid, f"{intent_count(port):,} intents", args)
    finally:
        process.terminate()
        process.wait(timeout=10)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "clients": {"processes": args.processes, "threads_per_process": args.threads},
        "state_journal": bool(args.state),
        "target_intents": args.intents,
        "fill_seconds": round(fill_seconds, 1),
        "start": start,
        "full": full,
        "ratio": round(full["requests_per_second"] / start["requests_per_second"], 3),
    }
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench_fakestripe.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, REPORTS / "bench_fakestripe.png")
    print(f"ratio ({full['intents_after']:,} intents / empty): {report['ratio']:.2f}")
    print(f"wrote {REPORTS / 'bench_fakestripe.json'} and {REPORTS / 'bench_fakestripe.png'}")


if __name__ == "__main__":
    main()
