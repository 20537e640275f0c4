"""The community points shop: rewards and orders."""

from __future__ import annotations

from timebank.api.base import Blueprint, actor, idempotent, paged
from timebank.schemas.rewards import (
    OrderIn,
    OrderOut,
    OrderQuery,
    RewardIn,
    RewardOut,
    RewardPatch,
    RewardQuery,
)
from timebank.services import rewards

blp = Blueprint("api_rewards", __name__, description="The community points shop (积分超市)")

reward_out = RewardOut()
order_out = OrderOut()


@blp.route("/rewards", methods=["POST"])
@blp.arguments(RewardIn)
@blp.response(201, RewardOut)
def create_reward(args):
    """Staff list goods or a service of a unit in reach; `stock` null means unlimited."""
    return rewards.create_reward(actor=actor(), **args)


@blp.route("/rewards", methods=["GET"])
@blp.arguments(RewardQuery, location="query")
@blp.response(200)
def list_rewards(args):
    """Members see what their community offers; staff their reach (with `include_inactive`)."""
    query = rewards.rewards_query(actor(), include_inactive=args.pop("include_inactive"))
    return paged(query, args, reward_out.dump)


@blp.route("/rewards/<int:reward_id>", methods=["GET"])
@blp.response(200, RewardOut)
def get_reward(reward_id):
    return rewards.visible_reward(actor(), reward_id)


@blp.route("/rewards/<int:reward_id>", methods=["PATCH"])
@blp.arguments(RewardPatch)
@blp.response(200, RewardOut)
def patch_reward(args, reward_id):
    """Change price, stock, limit or text, or withdraw it; placed orders keep their points."""
    return rewards.update_reward(actor=actor(), reward_id=reward_id, **args)


@blp.route("/rewards/<int:reward_id>/orders", methods=["POST"])
@idempotent
@blp.arguments(OrderIn)
@blp.response(201, OrderOut)
def place_order(args, reward_id):
    """A member orders: stock is taken and the points are held (409 `out_of_stock`)."""
    return rewards.place_order(actor=actor(), reward_id=reward_id, **args)


@blp.route("/reward-orders", methods=["GET"])
@blp.arguments(OrderQuery, location="query")
@blp.response(200)
def list_orders(args):
    query = rewards.orders_query(actor(), status=args.pop("status", None),
                                 reward_id=args.pop("reward_id", None))
    return paged(query, args, order_out.dump)


@blp.route("/reward-orders/<int:order_id>", methods=["GET"])
@blp.response(200, OrderOut)
def get_order(order_id):
    return rewards.visible_order(actor(), order_id)


@blp.route("/reward-orders/<int:order_id>/fulfil", methods=["POST"])
@idempotent
@blp.response(200, OrderOut)
def fulfil(order_id):
    """Staff hand the reward over; the held points go to the community shop."""
    return rewards.fulfil(actor=actor(), order_id=order_id)


@blp.route("/reward-orders/<int:order_id>/cancel", methods=["POST"])
@idempotent
@blp.response(200, OrderOut)
def cancel(order_id):
    """The member or staff cancel a reserved order; points and stock come back."""
    return rewards.cancel(actor=actor(), order_id=order_id)
