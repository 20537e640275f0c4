"""The load driver: a separate process that drives the running app for fixed durations.

    python -m bench.load PLAN.json BASE_URL OUT.json [--duration S] [--rounds N]
        [--concurrency N]

Each scenario runs `concurrency` clients in a closed loop for `duration` seconds in all,
in `rounds` turns taken in order with the other scenarios, each turn after a short warm-up,
and reports requests/s, p50/p95/max latency and every non-2xx or failed request as an
error. Requests that change something (approvals, redemptions) take their
record or code from pools the dataset prepared, each used once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import aiohttp

API = "/api/v1"


@dataclass
class Outcome:
    name: str
    label: str
    duration_s: float = 0.0
    requests: int = 0
    errors: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    concurrency: int = 0
    exhausted: bool = False
    error_samples: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile of `values` (q in 0–100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


class Exhausted(Exception):
    """A scenario used up its pool of records or codes."""


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scenarios(plan: dict) -> dict[str, tuple[str, Callable[[], tuple]]]:
    """name → (label, a function giving the next request as (method, path, headers, json))."""
    rnd = random.Random(11)
    members = plan["members"]
    communities = plan["communities"]
    pending = list(plan["pending"])
    codes = list(plan["codes"])
    shops = plan["shops"]
    staff = _auth(plan["staff_token"])

    def healthz():
        return "GET", "/healthz", {}, None

    def balance():
        member = rnd.choice(members)
        return "GET", f"{API}/members/{member['id']}/balance", _auth(member["token"]), None

    def leaderboard():
        member = rnd.choice(members)
        scope = rnd.choice(communities)
        return ("GET", f"{API}/leaderboards?scope_id={scope}&period=month&metric=hours"
                "&group=member&limit=50", _auth(member["token"]), None)

    def redemption():
        if not codes:
            raise Exhausted
        shop = rnd.choice(shops)
        return ("POST", f"{API}/redemptions", _auth(shop["token"]),
                {"code": codes.pop(), "offer_id": rnd.choice(shop["offers"])})

    def approve():
        if not pending:
            raise Exhausted
        return "POST", f"{API}/service-records/{pending.pop()}/approve", staff, None

    return {
        "healthz": ("`GET /healthz`", healthz),
        "balance": ("`GET /members/{id}/balance`", balance),
        "leaderboard": ("`GET /leaderboards` (community, month, top 50)", leaderboard),
        "redemption": ("`POST /redemptions`", redemption),
        "approve": ("`POST /service-records/{id}/approve`", approve),
    }


@dataclass
class Slice:
    """One stretch of one scenario: what was measured after its warm-up."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    exhausted: bool = False


async def _slice(client: aiohttp.ClientSession, next_request, *, duration: float,
                 warmup: float, concurrency: int) -> Slice:
    result = Slice()
    measuring_from = time.monotonic() + warmup
    deadline = measuring_from + duration

    async def client_loop():
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            try:
                method, path, headers, body = next_request()
            except Exhausted:
                result.exhausted = True
                return
            sent_at = now
            began = time.perf_counter()
            error = None
            try:
                async with client.request(method, path, headers=headers, json=body) as response:
                    text = await response.text()
                    if response.status >= 400:
                        error = f"{response.status} {text[:200]}"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - began
            if sent_at < measuring_from:
                continue  # warm-up
            result.latencies.append(elapsed)
            if error:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(error)

    started = time.monotonic()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    ended = min(time.monotonic(), deadline)
    result.duration_s = max(ended - max(started, measuring_from), 1e-9)
    return result


def outcome(name: str, label: str, concurrency: int, slices: list[Slice]) -> Outcome:
    """A scenario's figures over all its slices."""
    ms = [v * 1000 for s in slices for v in s.latencies]
    duration = sum(s.duration_s for s in slices)
    errors = sum(s.errors for s in slices)
    return Outcome(
        name=name, label=label, concurrency=concurrency,
        duration_s=round(duration, 2), requests=len(ms), errors=errors,
        rps=round(len(ms) / max(duration, 1e-9), 1),
        p50_ms=round(percentile(ms, 50), 1), p95_ms=round(percentile(ms, 95), 1),
        max_ms=round(max(ms, default=0.0), 1),
        exhausted=any(s.exhausted for s in slices),
        error_samples=[e for s in slices for e in s.error_samples][:5],
    )


async def _bulk(client: aiohttp.ClientSession, plan: dict) -> Outcome:
    """Each prepared batch of 1,000 pending records approved in one request, one at a time."""
    outcome = Outcome(name="bulk_approve", label="`POST /service-records/bulk-approve` "
                      "(1,000 records)", concurrency=1)
    latencies = []
    for batch in plan["bulk"]:
        began = time.perf_counter()
        async with client.post(f"{API}/service-records/bulk-approve",
                               headers=_auth(plan["staff_token"]), json={"ids": batch}) as response:
            text = await response.text()
            latencies.append((time.perf_counter() - began) * 1000)
            failed = json.loads(text).get("failed", []) if response.status == 200 else batch
            if response.status != 200 or failed:
                outcome.errors += 1
                if len(outcome.error_samples) < 5:
                    outcome.error_samples.append(f"{response.status} {text[:200]}")
    outcome.requests = len(latencies)
    outcome.duration_s = round(sum(latencies) / 1000, 2)
    outcome.rps = round(outcome.requests / max(outcome.duration_s, 1e-9), 2)
    outcome.p50_ms = round(percentile(latencies, 50), 1)
    outcome.p95_ms = round(percentile(latencies, 95), 1)
    outcome.max_ms = round(max(latencies, default=0.0), 1)
    return outcome


ORDER = ("healthz", "balance", "leaderboard", "redemption", "approve", "bulk_approve")


async def drive(plan: dict, base_url: str, *, duration: float, warmup: float,
                concurrency: int, rounds: int = 4, only: list[str] | None = None
                ) -> list[Outcome]:
    """Each scenario for `duration` seconds in all, taken in `rounds` turns.

    The scenarios take turns (healthz, balance, …, healthz, balance, …) so that a machine
    that slows down or speeds up during the run shifts every endpoint alike, and the ratios
    to /healthz compare like with like.
    """
    table = scenarios(plan)
    names = [n for n in (only or ORDER) if n != "bulk_approve"]
    slices: dict[str, list[Slice]] = {name: [] for name in names}
    results = []
    # gunicorn's sync workers close every connection, so does the driver: each request
    # is accepted by whichever worker is free.
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:
        for turn in range(1, rounds + 1):
            print(f"[load] round {turn}/{rounds}: {duration / rounds:.0f} s per endpoint × "
                  f"{concurrency} clients", flush=True)
            for name in names:
                slices[name].append(await _slice(
                    client, table[name][1], duration=duration / rounds, warmup=warmup,
                    concurrency=concurrency))
        results = [outcome(name, table[name][0], concurrency, slices[name]) for name in names]
        if "bulk_approve" in (only or ORDER):
            print("[load] bulk approve", flush=True)
            results.append(await _bulk(client, plan))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan")
    parser.add_argument("base_url")
    parser.add_argument("out")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args(argv)
    with open(args.plan) as fh:
        plan = json.load(fh)
    results = asyncio.run(drive(plan, args.base_url, duration=args.duration,
                                warmup=args.warmup, concurrency=args.concurrency,
                                rounds=args.rounds, only=args.only))
    with open(args.out, "w") as fh:
        json.dump([asdict(r) for r in results], fh, indent=1)
    for r in results:
        print(f"[load] {r.name}: {r.rps} req/s p50 {r.p50_ms} ms p95 {r.p95_ms} ms "
              f"errors {r.errors}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
