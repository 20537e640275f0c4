"""Demo data: a street with two communities, members, merchants and three months of hours."""

from __future__ import annotations

import random
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from timebank.errors import DomainError
from timebank.extensions import db
from timebank.models import OrgUnit, User
from timebank.models.base import utcnow
from timebank.services import (
    activities,
    awards,
    categories,
    certificates,
    helping,
    merchants,
    org,
    policy,
    records,
    rewards,
    teams,
    tx,
    users,
)
from timebank.timeutil import today, zone

DEMO_PASSWORD = "demo-pass-2026"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文辉海燕春梅林波宁亮俊"
CATEGORIES = [
    ("cleanup", "环境清洁", "4.00"),
    ("patrol", "平安巡逻", "5.00"),
    ("elder-care", "关爱老人", "6.00"),
    ("report", "事件上报", "2.00"),
    ("publicity", "政策宣传", "3.00"),
]
PLACES = ["社区广场", "党群服务中心", "3号楼下", "小区东门", "老年活动室", "社区公园"]


class DatabaseNotEmpty(DomainError):
    code = "database_not_empty"
    status = 409


PARTY_UNITS = ("区教育局机关党支部", "市第一医院党委", "区税务局党支部", "幸福小学党支部")


def seed(*, members: int = 200, seed: int = 2026) -> str:
    """Fill an empty database; everything goes through the same services as the app."""
    if db.session.scalar(select(func.count(User.id))) or db.session.scalar(
        select(func.count(OrgUnit.id))
    ):
        raise DatabaseNotEmpty(_("The database is not empty; demo data is only for a new one."))
    rnd = random.Random(seed)
    with tx.held_commit():
        street = org.add_unit(None, "street", "幸福街道")
        communities = [org.add_unit(street, "community", name) for name in ("阳光社区", "和谐社区")]
        grids = [
            org.add_unit(community, "grid", f"第{i}网格")
            for community in communities
            for i in range(1, 4)
        ]
        for code, name, rate in CATEGORIES:
            categories.add_category(code, name, int(rate.replace(".", "")))

        shared_hash = users.hash_password(DEMO_PASSWORD)

        def person(username, name, roles, unit, merchant_id=None):
            return users.add_user(username=username, password=DEMO_PASSWORD,
                                  password_hash=shared_hash,
                                  display_name=name, roles=roles, org_unit_id=unit.id,
                                  merchant_id=merchant_id)

        admin = person("admin", "系统管理员", ["admin"], street)
        staff = [
            person("staff", "陈社工", ["staff"], communities[0]),
            person("staff2", "林社工", ["staff"], communities[1]),
        ]
        shops = []
        for community, shop_names in zip(
            communities, (("惠民肉菜店", "社区理发店"), ("便民超市", "阳光早餐铺")), strict=True
        ):
            for shop_name in shop_names:
                shop = merchants.add_merchant(shop_name, community.id, f"{community.name}临街")
                merchants.add_offer(shop, "满50减10优惠券", 3000)
                merchants.add_offer(shop, "八折优惠", 2000)
                shops.append(shop)
        tills = {shops[0].id: person("merchant", "肉菜店王老板", ["merchant"], communities[0],
                                     merchant_id=shops[0].id)}
        for shop in shops[1:]:
            tills[shop.id] = person(f"merchant{shop.id}", f"{shop.name}店员", ["merchant"],
                                    shop.org_unit, merchant_id=shop.id)
        volunteer = person("volunteer", "张小三", ["volunteer"], grids[0])
        people = [volunteer]
        for n in range(members - 1):
            given = "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
            name = rnd.choice(SURNAMES) + given
            roles = ["gridworker"] if n % 10 == 0 else ["volunteer"]
            people.append(person(f"member{n + 1:04d}", name, roles, rnd.choice(grids)))
        # Some members are in-service party members reporting to their home community.
        for member in people[1::7]:
            member.is_party_member = True
            member.party_unit = rnd.choice(PARTY_UNITS)

        now = utcnow().astimezone(zone())
        record_count = pending = 0
        for member in people:
            reviewer = staff[0] if communities[0].contains(member.org_unit) else staff[1]
            days = sorted(rnd.sample(range(1, 90), rnd.randint(2, 8)), reverse=True)
            for index, day in enumerate(days):
                code, name, _rate = rnd.choice(CATEGORIES)
                start = (now - timedelta(days=day)).replace(
                    hour=rnd.choice((8, 9, 14, 15)), minute=0, second=0, microsecond=0)
                record = records.log_hours(
                    actor=reviewer, member_id=member.id, category=code,
                    started_at=start, ended_at=start + timedelta(hours=rnd.choice((1, 1.5, 2, 3))),
                    place=rnd.choice(PLACES), description=f"{name}志愿服务",
                    person_in_charge=reviewer.display_name,
                )
                record_count += 1
                if day < 10 and index == len(days) - 1:
                    pending += 1
                    continue
                records.approve(record.id, reviewer=reviewer)

        redemptions = 0
        for member in rnd.sample(people, min(30, len(people))):
            balance = users.summary(member).balance
            shop = rnd.choice(shops)
            offer = merchants.offers_of(shop)[1]
            if balance * 100 < offer.points_cost_minor:
                continue
            issued = merchants.issue_code(member=member, ttl_seconds=300)
            merchants.redeem(actor=tills[shop.id], code=issued.code, offer_id=offer.id)
            redemptions += 1

        neighbourhood = _activities_and_requests(rnd, staff[0], grids[0], [
            p for p in people if communities[0].contains(p.org_unit)], now)
        recognition = _recognition(rnd, staff, communities, people, now)
        shop = _points_shop(staff, communities, street, admin, people)

    return (
        f"demo data: 1 street, {len(communities)} communities, {len(grids)} grids, "
        f"{len(people)} members, {len(shops)} merchants, {record_count} records "
        f"({pending} pending), {redemptions} redemptions, {neighbourhood}, {recognition}, "
        f"{shop}\n"
        f"sign in as admin / staff / volunteer / merchant with password {DEMO_PASSWORD}\n"
        f"(administrator id {admin.id})"
    )


def _activities_and_requests(rnd: random.Random, clerk: User, grid: OrgUnit,
                             members: list[User], now) -> str:
    """In the first community: a finished, a running and a coming activity; requests for help;
    gifts allowed between family members."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    spans = [("楼道杂物清理", "cleanup", hour - timedelta(days=2, hours=3), 2),
             ("夜间平安巡逻", "patrol", hour - timedelta(hours=1), 3),
             ("重阳节敬老探访", "elder-care", hour + timedelta(days=3), 2)]
    made = []
    for title, code, start, length in spans:
        made.append(activities.create_activity(
            actor=clerk, title=title, category=code, org_unit_id=grid.id, starts_at=start,
            ends_at=start + timedelta(hours=length), place=rnd.choice(PLACES), capacity=12,
            description=f"{title}，请准时到场签到。"))
    finished, running, coming = made
    for member in members[:8]:
        activities.mark_attendance(finished.id, actor=clerk, member_id=member.id,
                                   checked_in_at=finished.starts_at,
                                   checked_out_at=finished.ends_at)
    activities.close_activity(finished.id, actor=clerk)
    for member in members[:6]:
        activities.sign_up(running.id, actor=member)
        activities.sign_up(coming.id, actor=member)
    # The community's points policy: family gifts, points kept until the end of the next
    # year, at most ten hours a day.
    policy.set_version(actor=clerk, org_unit_id=org.community_of(grid).id,
                       effective_from=today(), transfer_mode="family",
                       per_transfer_limit_minor=5000, monthly_transfer_limit_minor=20000,
                       expiry_mode="end_of_next_year", daily_hours_cap_minor=1000,
                       note="居民议事会决议")
    needs = [("帮忙买菜送上楼", "腿脚不便，需要有人帮忙买菜。"),
             ("陪同去社区医院", "周三上午复查，需要有人陪同。"),
             ("修理漏水的水龙头", "厨房水龙头一直滴水。")]
    askers = members[1:][-len(needs):]  # not the demo volunteer, who takes the first
    for index, ((title, text), asker) in enumerate(zip(needs, askers, strict=False)):
        offer = 500 if users.summary(asker).balance >= 5 else 0
        request = helping.post_request(
            actor=asker, title=title, description=text, category="elder-care",
            org_unit_id=asker.org_unit_id, needed_at=now + timedelta(days=index + 1),
            offered_points_minor=offer)
        if index == 0:
            helping.claim(request.id, volunteer=members[0])
    return f"{len(made)} activities, {len(askers)} requests for help"


def _recognition(rnd: random.Random, staff: list[User], communities: list[OrgUnit],
                 people: list[User], now) -> str:
    """Volunteer teams, a year of earlier service for the demo volunteer (a star level due
    for its certificate), a service certificate, and the red flags of the last two months."""
    volunteer, clerk = people[0], staff[0]
    team_count = 0
    for community, clerk_of, names in zip(
            communities, staff, (("红马甲志愿服务队", "银发互助队"), ("和谐先锋队",)), strict=True):
        residents = [p for p in people[1:] if community.contains(p.org_unit)]
        for name in names:
            chosen = rnd.sample(residents, min(8, len(residents)))
            if not chosen:
                continue
            team = teams.create_team(actor=clerk_of, org_unit_id=community.id, name=name,
                                     description=f"{community.name}{name}",
                                     leader_id=chosen[0].id)
            for member in chosen[1:]:
                teams.add_member(actor=clerk_of, team_id=team.id, member_id=member.id)
            team_count += 1
    for n in range(44):  # 44 × 2.5 h before the demo's three months: over 100 hours
        start = (now - timedelta(days=100 + 6 * n)).replace(hour=9, minute=0, second=0,
                                                            microsecond=0)
        record = records.log_hours(
            actor=clerk, member_id=volunteer.id, category="elder-care", started_at=start,
            ended_at=start + timedelta(hours=2.5), place=rnd.choice(PLACES),
            description="关爱老人志愿服务", person_in_charge=clerk.display_name)
        records.approve(record.id, reviewer=clerk)
    certificates.issue(actor=clerk, member_id=volunteer.id, kind="service_record",
                       person_in_charge="王主任")
    first_of_month = now.date().replace(day=1)
    flags = 0
    previous = (first_of_month - timedelta(days=1)).replace(day=1)
    for month in ((previous - timedelta(days=1)).replace(day=1), previous):
        flags += sum(1 for o in awards.award_red_flag(month) if o.status == "awarded")
    return f"{team_count} teams, {flags} red flags"


# (title, kind, points, stock or None for unlimited, limit per member or None, description)
SHOP_REWARDS = {
    "阳光社区": [
        ("大米 5kg", "goods", 3000, 20, 2, "东北大米，每月兑换日在党群服务中心领取。"),
        ("理发服务", "service", 1500, 10, 1, "社区理发店师傅上门或到店理发一次。"),
        ("保温杯", "goods", 2000, 15, None, "304不锈钢保温杯，500毫升。"),
        ("洗衣液 2kg", "goods", 2500, 0, 2, "本月已兑完，下月补货。"),
    ],
    "和谐社区": [
        ("食用油 1.8L", "goods", 3500, 12, 1, "非转基因大豆油。"),
        ("家电清洗", "service", 4000, None, 1, "空调或油烟机清洗一次，预约上门。"),
    ],
}
STREET_REWARDS = [
    ("社区电影票", "goods", 1000, 50, 4, "街道文化中心周末放映，每张一人。"),
]


def _points_shop(staff: list[User], communities: list[OrgUnit], street: OrgUnit, admin: User,
                 people: list[User]) -> str:
    """The points shop (积分超市): goods and services in each community and one of the
    street; the demo volunteer has an order waiting for hand-over and one handed over."""
    made: list = []
    for community, clerk in zip(communities, staff, strict=True):
        for title, kind, cost, stock, limit, text in SHOP_REWARDS.get(community.name, []):
            made.append(rewards.create_reward(
                actor=clerk, org_unit_id=community.id, title=title, kind=kind,
                points_cost_minor=cost, stock=stock, per_member_limit=limit, description=text))
    for title, kind, cost, stock, limit, text in STREET_REWARDS:
        made.append(rewards.create_reward(
            actor=admin, org_unit_id=street.id, title=title, kind=kind, points_cost_minor=cost,
            stock=stock, per_member_limit=limit, description=text))
    volunteer, clerk = people[0], staff[0]
    by_title = {reward.title: reward for reward in made}
    orders = 0
    for title, handed_over in (("保温杯", True), ("大米 5kg", False)):
        reward = by_title[title]
        if users.summary(volunteer).balance * 100 < reward.points_cost_minor:
            continue
        placed = rewards.place_order(actor=volunteer, reward_id=reward.id, quantity=1)
        if handed_over:
            rewards.fulfil(actor=clerk, order_id=placed.id)
        orders += 1
    return f"{len(made)} rewards in the points shop, {orders} orders"
