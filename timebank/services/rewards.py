"""The community points shop (积分超市): staff list rewards, members order them (points held),
staff hand them over (points paid to the shop) or cancel (points and stock back)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import Select, false, func, select, update

from timebank.errors import (
    Forbidden,
    InvalidTransition,
    LimitReached,
    NotFound,
    OutOfStock,
    ValidationFailed,
)
from timebank.extensions import db
from timebank.models import LedgerTransaction, Reward, RewardOrder, User
from timebank.models.base import utcnow
from timebank.models.shop import REWARD_KINDS
from timebank.models.user import MEMBER_ROLES
from timebank.services import access, audit, ledger, org, tx

MAX_TITLE = 100
MAX_DESCRIPTION = 2000
MAX_QUANTITY = 100
MAX_STOCK = 1_000_000
MAX_COST_MINOR = 100_000_000  # a million points
# Every status change an order may make.
TRANSITIONS = {("reserved", "fulfilled"), ("reserved", "cancelled")}


def _check_fields(*, title: str | None, kind: str | None, description: str | None,
                  points_cost_minor: int | None, stock: int | None,
                  per_member_limit: int | None, partial: bool = False) -> dict:
    errors: dict[str, list[str]] = {}
    values: dict = {}
    if title is not None or not partial:
        title = (title or "").strip()
        if not title or len(title) > MAX_TITLE:
            errors["title"] = [_("Between 1 and %(n)d characters.", n=MAX_TITLE)]
        values["title"] = title
    if kind is not None or not partial:
        if kind not in REWARD_KINDS:
            errors["kind"] = [_("Choose one of: %(v)s.", v=", ".join(REWARD_KINDS))]
        values["kind"] = kind
    if description is not None:
        description = description.strip()
        if len(description) > MAX_DESCRIPTION:
            errors["description"] = [_("At most %(n)d characters.", n=MAX_DESCRIPTION)]
        values["description"] = description
    if points_cost_minor is not None or not partial:
        if points_cost_minor is None or not 0 < points_cost_minor <= MAX_COST_MINOR:
            errors["points_cost"] = [_("More than zero and at most a million points.")]
        values["points_cost_minor"] = points_cost_minor
    if stock is not None and not 0 <= stock <= MAX_STOCK:
        errors["stock"] = [_("From 0 to %(n)d, or empty for unlimited.", n=MAX_STOCK)]
    if per_member_limit is not None and not 0 < per_member_limit <= MAX_STOCK:
        errors["per_member_limit"] = [_("More than zero, or empty for no limit.")]
    if errors:
        raise ValidationFailed(errors=errors)
    return values


def create_reward(*, actor: User, org_unit_id: int, title: str, kind: str,
                  points_cost_minor: int, stock: int | None = None,
                  per_member_limit: int | None = None,
                  description: str | None = None) -> Reward:
    """A reward of a community in the staff member's reach."""
    tx.begin_write()
    access.require_staff(actor)
    unit = org.get_unit(org_unit_id)
    access.require_reach(actor, unit)
    values = _check_fields(title=title, kind=kind, description=description or "",
                           points_cost_minor=points_cost_minor, stock=stock,
                           per_member_limit=per_member_limit)
    reward = Reward(org_unit_id=unit.id, stock=stock, per_member_limit=per_member_limit,
                    created_by_id=actor.id, **values)
    db.session.add(reward)
    db.session.flush()
    audit.record(actor, "reward.create", "reward", reward.id, org_unit_id=unit.id,
                 title=reward.title)
    tx.commit()
    return reward


UNSET = object()


def update_reward(*, actor: User, reward_id: int, title: str | None = None,
                  description: str | None = None, points_cost_minor: int | None = None,
                  stock=UNSET, per_member_limit=UNSET, is_active: bool | None = None,
                  kind: str | None = None) -> Reward:
    """Change a reward; a new price applies to orders from now on, never to placed ones."""
    tx.begin_write()
    reward = managed_reward(actor, reward_id)
    values = _check_fields(title=title, kind=kind, description=description,
                           points_cost_minor=points_cost_minor,
                           stock=None if stock is UNSET else stock,
                           per_member_limit=None if per_member_limit is UNSET
                           else per_member_limit, partial=True)
    for name, value in values.items():
        setattr(reward, name, value)
    if stock is not UNSET:
        reward.stock = stock
    if per_member_limit is not UNSET:
        reward.per_member_limit = per_member_limit
    if is_active is not None:
        reward.is_active = bool(is_active)
    audit.record(actor, "reward.update", "reward", reward.id, org_unit_id=reward.org_unit_id)
    tx.commit()
    return reward


def can_see(actor: User, reward: Reward) -> bool:
    if access.reaches(actor, reward.org_unit):
        return True
    if actor.has_role(*MEMBER_ROLES):
        community = org.community_of(actor.org_unit)
        return reward.org_unit_id in community.ancestor_ids() or \
            community.contains(reward.org_unit)
    return False


def visible_reward(actor: User, reward_id: int) -> Reward:
    reward = db.session.get(Reward, reward_id)
    if reward is None or not can_see(actor, reward):
        raise NotFound(_("No such reward."))
    return reward


def managed_reward(actor: User, reward_id: int) -> Reward:
    access.require_staff(actor)
    reward = visible_reward(actor, reward_id)
    access.require_reach(actor, reward.org_unit)
    return reward


def rewards_query(actor: User, *, include_inactive: bool = False) -> Select:
    """Rewards the actor may see: staff their reach; members their community's and the
    street's; merchants none."""
    query = select(Reward).order_by(Reward.points_cost_minor, Reward.id)
    if access.is_staff(actor):
        query = access.scope_to_reach(query, actor, Reward.org_unit_id)
    elif actor.has_role(*MEMBER_ROLES):
        community = org.community_of(actor.org_unit)
        query = query.where(Reward.org_unit_id.in_(community.ancestor_ids())
                            | Reward.org_unit_id.in_(access.subtree_ids(community)))
        include_inactive = False
    else:
        query = query.where(false())
    if not include_inactive:
        query = query.where(Reward.is_active)
    return query


def _ordered_so_far(reward_id: int, member_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(RewardOrder.quantity), 0))
        .where(RewardOrder.reward_id == reward_id, RewardOrder.member_id == member_id,
               RewardOrder.status.in_(("reserved", "fulfilled")))) or 0


def ordered_counts(member_id: int, reward_ids: list[int]) -> dict[int, int]:
    """How many of each reward the member holds or has received (what counts for the limit)."""
    if not reward_ids:
        return {}
    rows = db.session.execute(
        select(RewardOrder.reward_id, func.sum(RewardOrder.quantity))
        .where(RewardOrder.member_id == member_id, RewardOrder.reward_id.in_(reward_ids),
               RewardOrder.status.in_(("reserved", "fulfilled")))
        .group_by(RewardOrder.reward_id))
    return {reward_id: int(total or 0) for reward_id, total in rows}


def held_points(member_id: int) -> int:
    """Points (hundredths) of the member's orders still waiting for hand-over."""
    return db.session.scalar(
        select(func.coalesce(func.sum(RewardOrder.points_minor), 0))
        .where(RewardOrder.member_id == member_id, RewardOrder.status == "reserved")) or 0


def place_order(*, actor: User, reward_id: int, quantity: int) -> RewardOrder:
    """A member orders a reward: stock is taken and the points are held in one transaction."""
    tx.begin_write()
    if not actor.has_role(*MEMBER_ROLES):
        raise Forbidden(_("Volunteers and gridworkers order rewards."))
    if not isinstance(quantity, int) or not 0 < quantity <= MAX_QUANTITY:
        raise ValidationFailed(errors={"quantity": [
            _("From 1 to %(n)d.", n=MAX_QUANTITY)]})
    reward = visible_reward(actor, reward_id)
    if not reward.is_active:
        raise InvalidTransition(_("This reward is no longer offered."))
    # One member's orders run one after another, so the limit holds under double clicks.
    if not tx.is_sqlite():
        db.session.execute(select(User.id).where(User.id == actor.id).with_for_update())
    if reward.per_member_limit is not None and \
            _ordered_so_far(reward.id, actor.id) + quantity > reward.per_member_limit:
        raise LimitReached(_("Each member may order at most %(n)d of this.",
                             n=reward.per_member_limit))
    # Stock is one conditional statement: it never goes below zero, whoever orders at once.
    taken = db.session.execute(
        update(Reward)
        .where(Reward.id == reward.id, Reward.stock.is_(None) | (Reward.stock >= quantity))
        .values(stock=Reward.stock - quantity)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise OutOfStock(_("Not enough of this reward is left."))
    points = reward.points_cost_minor * quantity
    order = RewardOrder(reward_id=reward.id, member_id=actor.id, quantity=quantity,
                        points_minor=points, status="reserved", created_by_id=actor.id)
    db.session.add(order)
    db.session.flush()
    txn = ledger.post(
        "shop_hold",
        [(ledger.member_account(actor.id), -points),
         (org.community_account(reward.org_unit, "hold"), points)],
        actor=actor, key=f"shop_hold:{order.id}", memo=f"{reward.title} ×{quantity}")
    order.hold_transaction_id = txn.id
    audit.record(actor, "reward_order.place", "reward_order", order.id,
                 org_unit_id=reward.org_unit_id, reward_id=reward.id, quantity=quantity)
    db.session.expire(reward)
    tx.commit()
    return order


def visible_order(actor: User, order_id: int) -> RewardOrder:
    order = db.session.get(RewardOrder, order_id)
    if order is None or not (order.member_id == actor.id
                             or access.reaches(actor, order.reward.org_unit)):
        raise NotFound(_("No such order."))
    return order


def _close(order: RewardOrder, actor: User, status: str) -> None:
    if (order.status, status) not in TRANSITIONS:
        raise InvalidTransition(_("This order is already closed."))
    changed = db.session.execute(
        update(RewardOrder)
        .where(RewardOrder.id == order.id, RewardOrder.status == "reserved")
        .values(status=status, closed_at=utcnow(), closed_by_id=actor.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise InvalidTransition(_("This order is already closed."))


def fulfil(*, actor: User, order_id: int) -> RewardOrder:
    """Staff hand the reward over: the held points go to the community shop."""
    tx.begin_write()
    access.require_staff(actor)
    order = visible_order(actor, order_id)
    access.require_reach(actor, order.reward.org_unit)
    _close(order, actor, "fulfilled")
    unit = order.reward.org_unit
    txn = ledger.post(
        "shop_sale",
        [(org.community_account(unit, "hold"), -order.points_minor),
         (org.community_account(unit, "shop"), order.points_minor)],
        actor=actor, key=f"shop_sale:{order.id}", memo=order.reward.title)
    db.session.execute(update(RewardOrder).where(RewardOrder.id == order.id)
                       .values(settle_transaction_id=txn.id)
                       .execution_options(synchronize_session=False))
    audit.record(actor, "reward_order.fulfil", "reward_order", order.id,
                 on_behalf_of=order.member, org_unit_id=unit.id)
    db.session.expire(order)
    tx.commit()
    return order


def cancel(*, actor: User, order_id: int) -> RewardOrder:
    """The member (or staff) cancels a reserved order: points and stock come back."""
    tx.begin_write()
    order = visible_order(actor, order_id)
    if order.member_id != actor.id:
        access.require_staff(actor)
        access.require_reach(actor, order.reward.org_unit)
    _close(order, actor, "cancelled")
    hold = db.session.get(LedgerTransaction, order.hold_transaction_id)
    txn = ledger.reverse(hold, actor=actor, kind="shop_return",
                         key=f"shop_return:{order.id}", memo=order.reward.title)
    db.session.execute(
        update(Reward).where(Reward.id == order.reward_id, Reward.stock.is_not(None))
        .values(stock=Reward.stock + order.quantity)
        .execution_options(synchronize_session=False))
    db.session.execute(update(RewardOrder).where(RewardOrder.id == order.id)
                       .values(settle_transaction_id=txn.id)
                       .execution_options(synchronize_session=False))
    audit.record(actor, "reward_order.cancel", "reward_order", order.id,
                 on_behalf_of=order.member, org_unit_id=order.reward.org_unit_id)
    db.session.expire(order)
    db.session.expire(order.reward)
    tx.commit()
    return order


def orders_query(actor: User, *, status: str | None = None,
                 reward_id: int | None = None) -> Select:
    """Orders the actor may list: staff their reach, members their own; newest first."""
    query = (select(RewardOrder).join(Reward, Reward.id == RewardOrder.reward_id)
             .order_by(RewardOrder.created_at.desc(), RewardOrder.id.desc()))
    if access.is_staff(actor):
        query = access.scope_to_reach(query, actor, Reward.org_unit_id)
    else:
        query = query.where(RewardOrder.member_id == actor.id)
    if status:
        query = query.where(RewardOrder.status == status)
    if reward_id is not None:
        query = query.where(RewardOrder.reward_id == reward_id)
    return query
