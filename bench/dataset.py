"""The benchmark's dataset: one street of members with years of approved hours behind them.

The organisation tree, categories, staff and merchants go through the app's own services.
The bulk (members, their accounts, approved service records with their `earn` transactions,
redemptions with theirs, the hours aggregates) is computed here in the order the app would
have written it, hash chain and running balances included, and loaded with COPY; then
`ledger verify` must accept it. Triggers are off only for the loading session
(`session_replication_role = replica`), which is why the verification afterwards matters.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg
from flask_migrate import upgrade

from timebank import create_app
from timebank.extensions import db
from timebank.services import categories, merchants, org, users
from timebank.services.demo import CATEGORIES, GIVEN, PLACES, SURNAMES
from timebank.services.ledger import chain_hash
from timebank.services.stats import STAR_THRESHOLDS_MINOR

COMMUNITIES = 10
GRIDS_PER_COMMUNITY = 20
MERCHANTS_PER_COMMUNITY = 3
OFFERS = (("一杯豆浆", 500), ("理发一次", 3000), ("蔬菜一份", 1500))
YEARS = 3
PASSWORD = "bench-pass-2026"
TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Scale:
    members: int
    records: int
    redemptions: int
    # What the load driver consumes, one each: pending records to approve one by one,
    # batches of 1,000 for the bulk approval, and live redemption codes.
    pending: int = 30_000
    bulk_batches: int = 5
    codes: int = 30_000
    member_tokens: int = 2_000


SCALES = {
    "full": Scale(members=100_000, records=2_000_000, redemptions=300_000),
    "small": Scale(members=5_000, records=100_000, redemptions=15_000, pending=10_000,
                   codes=10_000),
    # For trying the tooling itself in seconds.
    "tiny": Scale(members=500, records=10_000, redemptions=1_500, pending=2_000,
                  bulk_batches=2, codes=1_000, member_tokens=200),
}

BULK_SIZE = 1_000


def log(message: str) -> None:
    print(f"[dataset {time.strftime('%H:%M:%S')}] {message}", flush=True)


def app_for(url: str):
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TIMEZONE": TIMEZONE})


# --- the part the services build ---------------------------------------------------------


def _base(url: str) -> dict:
    """Street, communities, grids, categories, staff and merchants, through the services."""
    app = app_for(url)
    with app.app_context():
        upgrade()
        street = org.add_unit(None, "street", "滨江街道")
        communities, grids = [], []
        for c in range(1, COMMUNITIES + 1):
            community = org.add_unit(street, "community", f"第{c}社区")
            communities.append(community)
            for g in range(1, GRIDS_PER_COMMUNITY + 1):
                grids.append(org.add_unit(community, "grid", f"第{g}网格"))
        cats = [categories.add_category(code, name, int(rate.replace(".", "")))
                for code, name, rate in CATEGORIES]
        pw = users.hash_password(PASSWORD)
        staff = users.add_user(username="street_staff", password=PASSWORD,
                               display_name="街道工作人员", roles=["staff"],
                               org_unit_id=street.id, password_hash=pw)
        users.add_user(username="admin", password=PASSWORD, display_name="管理员",
                       roles=["admin"], org_unit_id=street.id, password_hash=pw)
        reviewers = {}
        for community in communities:
            reviewers[community.id] = users.add_user(
                username=f"staff_{community.id}", password=PASSWORD,
                display_name=f"{community.name}工作人员", roles=["staff"],
                org_unit_id=community.id, password_hash=pw).id
        shops = []
        for community in communities:
            for m in range(1, MERCHANTS_PER_COMMUNITY + 1):
                merchant = merchants.add_merchant(f"{community.name}便民店{m}", community.id)
                offers = [merchants.add_offer(merchant, title, cost) for title, cost in OFFERS]
                user = users.add_user(username=f"shop_{merchant.id}", password=PASSWORD,
                                      display_name=merchant.name, roles=["merchant"],
                                      org_unit_id=community.id, merchant_id=merchant.id,
                                      password_hash=pw)
                account = db.session.execute(db.text(
                    "SELECT id FROM account WHERE kind = 'merchant' AND merchant_id = :m"),
                    {"m": merchant.id}).scalar_one()
                shops.append({"merchant_id": merchant.id, "user_id": user.id,
                              "community_id": community.id,
                              "account_id": account,
                              "offers": [(o.id, o.points_cost_minor, o.title) for o in offers]})
        issuance = dict(db.session.execute(db.text(
            "SELECT org_unit_id, id FROM account WHERE kind = 'issuance'")).all())
        db.session.commit()
        base = {
            "street_id": street.id,
            "communities": [c.id for c in communities],
            "grids": [(g.id, g.parent_id) for g in grids],
            "categories": [(c.id, c.rates[0].points_per_hour_minor, c.name) for c in cats],
            "staff_id": staff.id,
            "reviewers": reviewers,
            "issuance": issuance,
            "shops": shops,
            "password_hash": pw,
        }
        db.session.remove()
        db.engine.dispose()
    return base


# --- the bulk ----------------------------------------------------------------------------


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _required_columns(conn: psycopg.Connection, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        " AND is_nullable = 'NO' AND column_default IS NULL", (table,)).fetchall()
    return {r[0] for r in rows}


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows) -> int:
    missing = _required_columns(conn, table) - set(columns) - {"id"}
    if missing:
        raise RuntimeError(f"{table}: the loader does not fill {sorted(missing)}")
    count = 0
    with conn.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _name(rnd: random.Random) -> str:
    return rnd.choice(SURNAMES) + "".join(rnd.choices(GIVEN, k=rnd.choice((1, 2))))


def build(url: str, scale: Scale, *, seed: int = 7) -> dict:
    """Create the dataset in an empty database at `url`; returns what the load driver uses."""
    started = time.monotonic()
    rnd = random.Random(seed)
    log("migrating and building the organisation through the services")
    base = _base(url)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")

        def next_id(table: str) -> int:
            return conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]

        # Members: one shared password hash (hashing 100,000 passwords proves nothing).
        log(f"members: {scale.members:,}")
        first_user = next_id("user_account")
        grids = base["grids"]
        member_ids = list(range(first_user, first_user + scale.members))
        home = {uid: grids[i % len(grids)] for i, uid in enumerate(member_ids)}
        created = now - timedelta(days=365 * YEARS + 30)
        _copy(conn, "user_account",
              ("id", "username", "password_hash", "display_name", "phone", "org_unit_id",
               "is_active", "prefers_large_font", "is_on_boards", "is_party_member",
               "created_at"),
              ((uid, f"m{uid:07d}", base["password_hash"], _name(rnd), f"139{uid:08d}",
                home[uid][0], True, False, uid % 50 != 0, uid % 20 == 0, _naive(created))
               for uid in member_ids))
        _copy(conn, "user_role", ("user_id", "role"),
              [(uid, "volunteer") for uid in member_ids]
              + [(uid, "gridworker") for uid in member_ids if uid % 10 == 0])
        first_account = next_id("account")
        account_of = {uid: first_account + i for i, uid in enumerate(member_ids)}

        # Approved records: a few very active members and a long tail.
        log(f"records: {scale.records:,} approved")
        weights = [rnd.paretovariate(1.6) for _ in member_ids]
        chosen = rnd.choices(member_ids, weights=weights, k=scale.records)
        # Service up to eight days ago: every one of these was reviewed by now.
        origin = now - timedelta(days=365 * YEARS)
        span = (timedelta(days=365 * YEARS) - timedelta(days=8)).total_seconds()
        cats = base["categories"]
        records = []
        for member_id in chosen:
            start = origin + timedelta(seconds=rnd.random() * span)
            start = start.replace(minute=0, second=0, microsecond=0)
            hours = rnd.choice((100, 150, 200, 250, 300, 400))
            end = start + timedelta(hours=hours / 100)
            entered = end + timedelta(minutes=rnd.randint(10, 2 * 24 * 60))
            approved = entered + timedelta(minutes=rnd.randint(30, 5 * 24 * 60),
                                           microseconds=rnd.randint(0, 999_999))
            category = rnd.choice(cats)
            records.append((entered, member_id, category, start, end, hours, approved))
        records.sort(key=lambda r: r[0])
        first_record = next_id("service_record")

        # Events in time order: approvals post `earn`, redemptions post `redemption`.
        log(f"redemptions: {scale.redemptions:,}")
        shops = base["shops"]
        by_community: dict[int, list[dict]] = {}
        for shop in shops:
            by_community.setdefault(shop["community_id"], []).append(shop)
        candidates = []
        for _ in range(int(scale.redemptions * 1.3)):
            at = origin + timedelta(seconds=(0.15 + 0.85 * rnd.random()) * span,
                                    microseconds=rnd.randint(0, 999_999))
            candidates.append((at, rnd.choice(member_ids)))
        events = [(r[6], 0, i) for i, r in enumerate(records)]
        events += [(at, 1, i) for i, (at, _m) in enumerate(candidates)]
        events.sort(key=lambda e: (e[0], e[1], e[2]))

        log("computing balances and the hash chain")
        balance: dict[int, int] = {}
        reviewers = base["reviewers"]
        issuance = base["issuance"]
        txns, postings, redemptions, codes = [], [], [], []
        prev_hash = "0" * 64
        seq = 0
        first_txn = next_id("ledger_transaction")
        first_posting = next_id("posting")
        first_redemption = next_id("redemption")
        first_code = next_id("redemption_code")
        record_txn: dict[int, int] = {}
        posting_id = first_posting
        done_redemptions = 0
        used_codes: set[str] = set()
        for at, kind, index in events:
            if kind == 0:
                entered, member_id, category, start, end, hours, approved = records[index]
                grid_id, community_id = home[member_id]
                points = hours * category[1] // 100
                record_id = first_record + index
                lines = [(issuance[community_id], -points), (account_of[member_id], points)]
                txn = SimpleNamespace(kind="earn", memo=f"{category[2]} {hours / 100:.2f}h",
                           actor_id=reviewers[community_id],
                           idempotency_key=f"service_record:{record_id}",
                           service_record_id=record_id, redemption_id=None,
                           reverses_id=None, created_at=approved)
            else:
                if done_redemptions >= scale.redemptions:
                    continue
                member_id = candidates[index][1]
                community_id = home[member_id][1]
                shop = rnd.choice(by_community[community_id])
                offer_id, cost, title = rnd.choice(shop["offers"])
                if balance.get(account_of[member_id], 0) < cost:
                    continue
                redemption_id = first_redemption + done_redemptions
                code_id = first_code + done_redemptions
                code = f"{rnd.randrange(10**8):08d}"
                codes.append((code_id, code, member_id, _naive(at - timedelta(minutes=1)),
                               _naive(at + timedelta(minutes=4)), _naive(at), True))
                lines = [(account_of[member_id], -cost), (shop["account_id"], cost)]
                txn = SimpleNamespace(kind="redemption", memo=title, actor_id=shop["user_id"],
                           idempotency_key=f"redemption:{redemption_id}",
                           redemption_id=redemption_id, service_record_id=None,
                           reverses_id=None, created_at=at)
                redemptions.append((redemption_id, shop["merchant_id"], offer_id, member_id,
                                    code_id, cost, "completed", first_txn + seq,
                                    shop["user_id"], _naive(at)))
                done_redemptions += 1
            seq += 1
            txn.seq = seq
            lines.sort()
            triples = []
            for account_id, amount in lines:
                after = balance.get(account_id, 0) + amount
                balance[account_id] = after
                triples.append((account_id, amount, after))
            txn_id = first_txn + seq - 1
            digest = chain_hash(prev_hash, txn, triples)
            txns.append((txn_id, seq, txn.kind, txn.memo, txn.actor_id, txn.idempotency_key,
                         txn.service_record_id, txn.redemption_id, _naive(txn.created_at),
                         prev_hash, digest))
            prev_hash = digest
            if kind == 0:
                record_txn[index] = txn_id
            for account_id, amount, after in triples:
                postings.append((posting_id, txn_id, account_id, amount, after))
                posting_id += 1
        if done_redemptions < scale.redemptions:
            raise RuntimeError(f"only {done_redemptions} redemptions were affordable")
        del events, candidates

        log("loading accounts, records, transactions and postings with COPY")
        _copy(conn, "account",
              ("id", "key", "kind", "user_id", "balance_minor", "allow_negative",
               "created_at"),
              ((account_of[uid], f"member:{uid}", "member", uid,
                balance.get(account_of[uid], 0), False, _naive(created))
               for uid in member_ids))
        with conn.cursor() as cur:
            for account_id in list(issuance.values()) + [s["account_id"] for s in shops]:
                cur.execute("UPDATE account SET balance_minor = %s WHERE id = %s",
                            (balance.get(account_id, 0), account_id))
        _copy(conn, "ledger_transaction",
              ("id", "seq", "kind", "memo", "actor_id", "idempotency_key",
               "service_record_id", "redemption_id", "created_at", "prev_hash", "hash"),
              txns)
        _copy(conn, "posting",
              ("id", "transaction_id", "account_id", "amount_minor", "balance_after_minor"),
              postings)
        n_txns = len(txns)
        del txns, postings
        record_columns = ("id", "member_id", "category_id", "org_unit_id", "title",
                          "started_at", "ended_at", "hours_minor", "place", "description",
                          "person_in_charge", "status", "expected_points_minor",
                          "points_awarded_minor", "transaction_id", "reviewer_id",
                          "reviewed_at", "created_by_id", "created_at")

        def approved_rows(rows):
            for index, (entered, member_id, category, start, end, hours,
                        approved) in enumerate(rows):
                grid_id, community_id = home[member_id]
                points = hours * category[1] // 100
                yield (first_record + index, member_id, category[0], grid_id, category[2],
                       _naive(start), _naive(end), hours, PLACES[index % len(PLACES)],
                       category[2], None, "approved", points, points, record_txn[index],
                       reviewers[community_id], _naive(approved), member_id, _naive(entered))

        _copy(conn, "service_record", record_columns, approved_rows(records))

        # The pool the driver approves: recent hours waiting for review.
        pool_size = scale.pending + scale.bulk_batches * BULK_SIZE
        first_pending = first_record + len(records)
        pending_rows = []
        for i in range(pool_size):
            member_id = rnd.choice(member_ids)
            grid_id, community_id = home[member_id]
            category = rnd.choice(cats)
            start = (now - timedelta(days=rnd.randint(1, 6), hours=rnd.randint(0, 12))).replace(
                minute=0, second=0, microsecond=0)
            hours = rnd.choice((100, 200, 300))
            pending_rows.append((
                first_pending + i, member_id, category[0], grid_id, category[2],
                _naive(start), _naive(start + timedelta(hours=hours / 100)), hours,
                PLACES[i % len(PLACES)], category[2], None, "pending",
                hours * category[1] // 100, None, None, None, None, member_id,
                _naive(start + timedelta(hours=hours / 100 + 1))))
        _copy(conn, "service_record", record_columns, pending_rows)
        del records

        _copy(conn, "redemption_code",
              ("id", "code", "member_id", "created_at", "expires_at", "consumed_at",
               "is_used"), codes)
        _copy(conn, "redemption",
              ("id", "merchant_id", "offer_id", "member_id", "code_id", "points_minor",
               "status", "transaction_id", "created_by_id", "created_at"), redemptions)
        used_codes.update(c[1] for c in codes)

        # Live codes for the driver: members who can afford what each code will buy.
        max_cost = max(cost for _title, cost in OFFERS)
        room = {uid: balance.get(account_of[uid], 0) // max_cost for uid in member_ids}
        holders = [uid for uid, n in room.items() for _ in range(n)]
        if len(holders) < scale.codes:
            raise RuntimeError(f"members can afford only {len(holders)} live codes")
        live = []
        code_id = first_code + len(codes)
        live_codes: set[str] = set()
        for member_id in rnd.sample(holders, scale.codes):
            code = f"{rnd.randrange(10**8):08d}"
            while code in live_codes or code in used_codes:
                code = f"{rnd.randrange(10**8):08d}"
            live_codes.add(code)
            live.append((code_id, code, member_id, _naive(now),
                         _naive(now + timedelta(days=2)), None, False))
            code_id += 1
        _copy(conn, "redemption_code",
              ("id", "code", "member_id", "created_at", "expires_at", "consumed_at",
               "is_used"), live)

        # Bearer tokens for the driver (only their SHA-256 is stored, as the app does).
        token_rows, tokens = [], {}
        first_token = next_id("api_token")
        who = [("staff", base["staff_id"])] + [
            (f"shop:{s['merchant_id']}", s["user_id"]) for s in shops] + [
            (f"member:{uid}", uid) for uid in rnd.sample(member_ids, scale.member_tokens)]
        for i, (label, user_id) in enumerate(who):
            raw = secrets.token_urlsafe(32)
            tokens[label] = raw
            token_rows.append((first_token + i, user_id, hashlib.sha256(raw.encode()).hexdigest(),
                               _naive(now), _naive(now + timedelta(days=2))))
        _copy(conn, "api_token", ("id", "user_id", "token_hash", "created_at", "expires_at"),
              token_rows)

        log("head of the chain, sequences, aggregates, star levels")
        conn.execute("UPDATE ledger_head SET last_seq = %s, last_hash = %s WHERE id = 1",
                     (seq, prev_hash))
        for table in ("user_account", "account", "service_record", "ledger_transaction",
                      "posting", "redemption", "redemption_code", "api_token"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                         f" (SELECT max(id) FROM {table}))")
        _aggregate(conn)
        conn.execute("SET session_replication_role = DEFAULT")
        conn.commit()
        conn.autocommit = True
        log("VACUUM ANALYZE")
        conn.execute("VACUUM ANALYZE")

    log(f"built in {time.monotonic() - started:.0f} s: {n_txns:,} transactions")
    staff_token = tokens["staff"]
    return {
        "scale": {k: getattr(scale, k) for k in scale.__dataclass_fields__},
        "transactions": n_txns,
        "communities": base["communities"],
        "staff_token": staff_token,
        "members": [{"id": int(label.split(":")[1]), "token": raw}
                    for label, raw in tokens.items() if label.startswith("member:")],
        "shops": [{"token": tokens[f"shop:{s['merchant_id']}"],
                   "offers": [o[0] for o in s["offers"]]} for s in shops],
        "pending": list(range(first_pending, first_pending + scale.pending)),
        "bulk": [list(range(first_pending + scale.pending + b * BULK_SIZE,
                            first_pending + scale.pending + (b + 1) * BULK_SIZE))
                 for b in range(scale.bulk_batches)],
        "codes": [row[1] for row in live],
    }


def _aggregate(conn: psycopg.Connection) -> None:
    """The week, month, year and all-time rows the approvals would have kept (SQL)."""
    conn.execute(f"""
        CREATE TEMP TABLE approved_day AS
        SELECT r.member_id, r.hours_minor, r.points_awarded_minor AS points,
               ((r.started_at AT TIME ZONE 'UTC') AT TIME ZONE '{TIMEZONE}')::date AS day,
               u.org_unit_id, g.id AS grid_id, g.parent_id AS community_id
        FROM service_record r
        JOIN user_account u ON u.id = r.member_id
        JOIN org_unit g ON g.id = u.org_unit_id
        WHERE r.status = 'approved'""")
    for period, start in (("week", "date_trunc('week', day)::date"),
                          ("month", "date_trunc('month', day)::date"),
                          ("year", "date_trunc('year', day)::date"),
                          ("all", "DATE '1900-01-01'")):
        conn.execute(f"""
            INSERT INTO service_stat (member_id, period, period_start, org_unit_id, grid_id,
                                      community_id, hours_minor, points_minor, records)
            SELECT member_id, '{period}', {start}, org_unit_id, grid_id, community_id,
                   sum(hours_minor), sum(points), count(*)
            FROM approved_day
            GROUP BY member_id, {start}, org_unit_id, grid_id, community_id""")
    thresholds = ", ".join(str(t) for t in STAR_THRESHOLDS_MINOR)
    conn.execute(f"""
        INSERT INTO star_award (member_id, level, org_unit_id, reached_at)
        SELECT s.member_id, lvl, s.org_unit_id, now() AT TIME ZONE 'UTC'
        FROM service_stat s
        CROSS JOIN generate_series(1, 5) AS lvl
        WHERE s.period = 'all' AND s.hours_minor >= (ARRAY[{thresholds}])[lvl]""")
    conn.execute("DROP TABLE approved_day")


def verify(url: str):
    """`ledger verify` and the aggregates check on the built database."""
    from timebank.services import ledger

    app = app_for(url)
    with app.app_context():
        report = ledger.verify()
        db.session.remove()
        db.engine.dispose()
    return report


