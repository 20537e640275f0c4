"""PostgreSQL stopped and started again under load: while it is down every request is answered
503 at once, afterwards the app recovers by itself (no gunicorn restart), and nothing
acknowledged before, during or after is lost.

The test runs its own PostgreSQL server, so that stopping it leaves the suite's alone; the
server commits synchronously, so that an acknowledged commit survives even `-m immediate`.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from flask import request
from flask_migrate import upgrade

from tests.factories import PASSWORD, Api
from tests.faults.till import (
    REQUEST_TIMEOUT,
    Round,
    assert_acknowledged_kept,
    assert_nothing_half_done,
    till_round,
)
from tests.live_server import call, sign_in, wait_until
from tests.pg_cluster import start_cluster
from timebank import create_app
from timebank.extensions import db

pytestmark = pytest.mark.postgresql_only

TILLS = 3
READERS = 2
# Answered 503 at once while the database is down: a refused connection is not a wait.
DOWN_ANSWER_SECONDS = 5.0
_databases = itertools.count(1)


@pytest.fixture(scope="module")
def server_of_the_module():
    cluster = start_cluster("-c synchronous_commit=on -c max_connections=60")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_cluster(server_of_the_module):
    """The module's server, running (a test that failed while it was stopped left it so)."""
    if not server_of_the_module.executor.running():
        server_of_the_module.resume()
    return server_of_the_module


@pytest.fixture
def database_url(own_cluster):
    """This module's databases live on its own server (the suite's server stays up)."""
    url = own_cluster.create_database(f"timebank_faults_{next(_databases)}")
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "migrate"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@dataclass
class Read:
    phase: str
    status: int | None
    content_type: str = ""
    code: str | None = None
    error: str | None = None
    seconds: float = 0.0


class Load:
    """Tills and readers in threads until told to stop; each result is kept with the phase
    (before, stopping, down, starting, after) in which its request began."""

    def __init__(self):
        self.phase = "before"
        self.rounds: list[tuple[str, Round]] = []
        self.reads: list[Read] = []
        self.stopped = threading.Event()
        self._lock = threading.Lock()

    def enter(self, phase: str) -> None:
        with self._lock:
            self.phase = phase

    def till(self, base, member, merchant, offer):
        n = 0
        while not self.stopped.is_set():
            n += 1
            phase = self.phase
            attempt = till_round(base, member, merchant, offer, f"till-{member.id}-{n}")
            with self._lock:
                self.rounds.append((phase, attempt))

    def reader(self, base, member, merchant, merchant_id):
        paths = [(f"/api/v1/members/{member.id}/balance", member),
                 (f"/api/v1/merchants/{merchant_id}/offers", merchant)]
        n = 0
        while not self.stopped.is_set():
            path, who = paths[n % 2]
            n += 1
            phase = self.phase
            try:
                reply = call(base, "GET", path, headers=who.auth, timeout=REQUEST_TIMEOUT)
                problem = reply.content_type == "application/problem+json"
                read = Read(phase, reply.status, reply.content_type,
                            reply.json().get("code") if problem else None,
                            seconds=reply.seconds)
            except (OSError, http.client.HTTPException) as exc:
                read = Read(phase, None, error=f"{type(exc).__name__}: {exc}")
            with self._lock:
                self.reads.append(read)

    def count(self, phase: str, ok: bool) -> int:
        with self._lock:
            rounds = sum(1 for p, r in self.rounds if p == phase and r.acknowledged == ok)
            reads = sum(1 for r in self.reads if r.phase == phase and (r.status == 200) == ok)
            return rounds + reads

    def acknowledged(self, phase: str) -> int:
        with self._lock:
            return sum(1 for p, r in self.rounds if p == phase and r.acknowledged)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_app_answers_503_while_postgresql_is_down_and_recovers_by_itself(
        app, make, world, server, own_cluster, mode):
    api = Api(app.test_client())
    members = [make.user(["volunteer"], world.units["A1"], display_name=f"会员{n}")
               for n in range(TILLS)]
    for member in members:
        api.earn(member, world.staff_a, ago=3, length=2)  # 20.00 points
    offer = make.offer(world.merchants["MA"], "一分券", "0.01")
    merchant = world.merchant_a
    reader = world.vol_a
    cookie = sign_in(server.base, reader.username, PASSWORD)
    assert call(server.base, "GET", "/me/", headers={"Cookie": f"session={cookie}"}).status == 200
    workers = server.worker_pids()

    load = Load()
    with ThreadPoolExecutor(max_workers=TILLS + READERS) as pool:
        running = [pool.submit(load.till, server.base, m, merchant, offer) for m in members]
        running += [pool.submit(load.reader, server.base, reader, merchant,
                                world.merchants["MA"])
                    for _ in range(READERS)]
        try:
            wait_until(lambda: load.acknowledged("before") >= 30, seconds=60,
                       what="redemptions before the stop")

            load.enter("stopping")
            own_cluster.halt(mode)
            load.enter("down")
            wait_until(lambda: server.healthz() == 503, seconds=30, what="/healthz 503")
            _probe_down(server, reader, cookie)
            wait_until(lambda: load.count("down", ok=False) >= 20, seconds=30,
                       what="requests refused while down")

            load.enter("starting")
            own_cluster.resume()
            wait_until(lambda: server.healthz() == 200, seconds=60, what="/healthz 200 again")
            load.enter("after")
            wait_until(lambda: load.acknowledged("after") >= 30, seconds=60,
                       what="redemptions after the restart")
        finally:
            load.stopped.set()
            for future in running:
                future.result(timeout=60)

    assert server.process.poll() is None and server.worker_pids() == workers, \
        "gunicorn was not restarted"
    rounds = [r for _phase, r in load.rounds]
    everything = [(p, r.status, r.error, r.seconds) for p, r in load.rounds] + \
                 [(r.phase, r.status, r.error, r.seconds) for r in load.reads]
    # gunicorn stayed up: every request got an answer, in time, and never a 500.
    assert [e for e in everything if e[2] is not None] == []
    assert {status for _p, status, _e, _s in everything} <= {200, 201, 503}
    # While the database was down, everything was refused with a 503, at once.
    down = [e for e in everything if e[0] == "down"]
    assert down and {status for _p, status, _e, _s in down} == {503}
    assert max(seconds for _p, _st, _e, seconds in down) < DOWN_ANSWER_SECONDS
    assert all(r.code == "unavailable" and r.content_type == "application/problem+json"
               for r in load.reads if r.status == 503)
    assert all(r.body == {"code": "unavailable"} for r in rounds if r.status == 503)
    # Once /healthz said 200, every request went through again.
    after = [e for e in everything if e[0] == "after"]
    assert after and {status for _p, status, _e, _s in after} <= {200, 201}

    # The tills try each redemption that got a 503 again, with its code and key: each goes
    # through once (or, had it gone through before, is answered as it was).
    cut = [r for r in rounds if r.stage == "redeem" and r.status == 503]
    by_id = {m.id: m for m in members}
    retried = [till_round(server.base, by_id[r.member_id], merchant, offer, r.key, code=r.code)
               for r in cut]
    assert [r.status for r in retried] == [201] * len(cut)
    rounds = [r for r in rounds if not r.cut] + retried

    with app.app_context():
        assert_acknowledged_kept(rounds)
        assert_nothing_half_done()
        for member in members:
            spent = sum(r.acknowledged for r in rounds if r.member_id == member.id)
            assert api.balance(member) == f"{(2000 - spent) / 100:.2f}"


def _probe_down(server, member, cookie: str) -> None:
    """/healthz, the API and a page each answer 503 at once, the API as problem+json."""
    health = call(server.base, "GET", "/healthz", timeout=REQUEST_TIMEOUT)
    assert (health.status, health.json()) == (
        503, {"status": "unavailable", "database": "unavailable"})
    assert health.seconds < DOWN_ANSWER_SECONDS
    for method, path in [("GET", f"/api/v1/members/{member.id}/balance"),
                         ("POST", "/api/v1/redemption-codes")]:
        reply = call(server.base, method, path, headers=member.auth, timeout=REQUEST_TIMEOUT)
        assert reply.status == 503, reply.text
        assert reply.content_type == "application/problem+json"
        body = reply.json()
        assert (body["status"], body["code"]) == (503, "unavailable") and body["detail"]
        assert reply.seconds < DOWN_ANSWER_SECONDS
    page = call(server.base, "GET", "/me/", headers={"Cookie": f"session={cookie}"},
                timeout=REQUEST_TIMEOUT)
    assert page.status == 503, page.text[:2000]
    assert page.content_type.startswith("text/html")
    assert page.seconds < DOWN_ANSWER_SECONDS


def test_an_answer_made_before_postgresql_stopped_is_still_sent(app, world, own_cluster):
    """The balance is read, then the server stops before the request has ended its
    transaction: the member gets the balance, not a 500, and is served after the restart."""
    member = world.vol_a
    path = f"/api/v1/members/{member.id}/balance"

    @app.after_request
    def stop_the_server(response):
        if request.headers.get("X-Stop"):
            own_cluster.halt(request.headers["X-Stop"])
        return response

    client = app.test_client()
    for mode in ("fast", "immediate"):
        resp = client.get(path, headers={**member.auth, "X-Stop": mode})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["balance"] == "0.00"
        assert client.get(path, headers=member.auth).status_code == 503
        own_cluster.resume()
        assert client.get(path, headers=member.auth).status_code == 200
