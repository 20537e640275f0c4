"""Service categories and their rates."""

from __future__ import annotations

from timebank.api.base import Blueprint, actor
from timebank.schemas import CategoryIn, CategoryOut, RateIn, RateOut
from timebank.services import categories
from timebank.timeutil import today

blp = Blueprint("api_categories", __name__, description="What service earns, per hour")

category_out = CategoryOut()


def _with_rate(category) -> dict:
    return {"code": category.code, "name": category.name,
            "points_per_hour_minor": categories.rate_on(category, today())}


@blp.route("/categories", methods=["POST"])
@blp.arguments(CategoryIn)
@blp.response(201, CategoryOut)
def create_category(args):
    category = categories.create_category(
        actor=actor(), code=args["code"], name=args["name"],
        points_per_hour_minor=args["points_per_hour"],
    )
    return _with_rate(category)


@blp.route("/categories", methods=["GET"])
@blp.response(200)
def list_categories():
    """Every category with the rate in force today."""
    return {"items": [category_out.dump(_with_rate(c)) for c in categories.all_categories()]}


@blp.route("/categories/<code>/rates", methods=["POST"])
@blp.arguments(RateIn)
@blp.response(201, RateOut)
def change_rate(args, code):
    """A new rate for service performed from `effective_from` on."""
    return categories.change_rate(actor=actor(), code=code,
                                  points_per_hour_minor=args["points_per_hour"],
                                  effective_from=args["effective_from"])
