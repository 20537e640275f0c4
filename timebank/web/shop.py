"""The points shop (积分超市): members order rewards with their points and follow their orders;
staff list the rewards of their reach and hand the orders over (or cancel them) at the desk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from timebank.errors import (
    DomainError,
    Forbidden,
    InsufficientPoints,
    LimitReached,
    NotFound,
    OutOfStock,
)
from timebank.extensions import db
from timebank.models import Reward, RewardOrder, User
from timebank.models.shop import ORDER_STATUSES, REWARD_KINDS
from timebank.models.user import MEMBER_ROLES
from timebank.services import access, ledger, rewards, users
from timebank.timeutil import local
from timebank.units import fmt
from timebank.web.common import (
    AlreadySent,
    OnceForm,
    flash_form_errors,
    member_page,
    once,
    page_arg,
    place_domain_error,
    roles_required,
    safe_next,
)
from timebank.web.staff import PointsField

bp = Blueprint("shop", __name__, url_prefix="/shop")

CATALOGUE_PER_PAGE = 20
MY_ORDERS_PER_PAGE = 20
DESK_ORDERS_PER_PAGE = 30
DESK_REWARDS_PER_PAGE = 30
MAX_ID = 2**31 - 1
MAX_COUNT_DIGITS = 7  # stock and limits: the service allows at most a million
STATUS_FILTERS = (*ORDER_STATUSES, "all")
# Full-width digits typed on a Chinese keyboard ('２') read as ordinary ones; nothing else does.
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")

KIND_LABELS = {
    "goods": _l("Goods"),
    "service": _l("Service"),
}
ORDER_STATUS_LABELS = {
    "reserved": _l("Waiting for hand-over"),
    "fulfilled": _l("Handed over"),
    "cancelled": _l("Cancelled"),
}
ORDER_STATUS_BADGES = {
    "reserved": "text-bg-warning",
    "fulfilled": "text-bg-success",
    "cancelled": "text-bg-secondary",
}


def _when(moment: datetime | None) -> str:
    """2026年3月1日 14:00 in Chinese, 2026-03-01 14:00 in English."""
    if moment is None:
        return ""
    shown = local(moment)
    if str(get_locale()).startswith("zh"):
        return f"{shown.year}年{shown.month}月{shown.day}日 {shown:%H:%M}"
    return shown.strftime("%Y-%m-%d %H:%M")


def _shown_name(person: User | None) -> str:
    return access.shown_name(current_user, person)


@bp.context_processor
def _shop_context() -> dict:
    return {"when": _when, "shown_name": _shown_name, "kind_labels": KIND_LABELS,
            "order_statuses": ORDER_STATUS_LABELS, "order_badges": ORDER_STATUS_BADGES}


# --- shared helpers ----------------------------------------------------------------------


def _member_action(view: Callable) -> Callable:
    """A member's own action (order, cancel): only volunteers and gridworkers."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.has_role(*MEMBER_ROLES):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _id_or_404(raw: str) -> int:
    """An id from the address: ASCII digits that fit an id column, or the page is not found
    (Flask's int converter would read '１２' or '٣' as a number)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 0 < int(raw) <= MAX_ID:
        abort(404)
    return int(raw)


def _page_of(name: str) -> int:
    """A `?name=` page number; anything but a sensible number is the first page."""
    raw = request.args.get(name, "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 \
        else 1


def _plain_number(value: str | None) -> str | None:
    return value.translate(FULL_WIDTH_DIGITS).strip() if isinstance(value, str) else value


def _whole(text: str | None, digits: int) -> int | None:
    """A whole number of ASCII digits, or None."""
    if not text or not (text.isascii() and text.isdigit()) or len(text) > digits:
        return None
    return int(text)


def _balance(member: User) -> int:
    return ledger.member_account(member.id).balance_minor


def _refuse(message: str):
    db.session.rollback()
    flash(message, "danger")


# --- members: the catalogue and ordering ------------------------------------------------


class OrderForm(OnceForm):
    quantity = StringField(_l("Quantity"), filters=[_plain_number], validators=[
        InputRequired(_l("Enter how many you want."))])

    def validate_quantity(self, field):
        number = _whole(field.data, 6)
        if number is None or not 0 < number <= rewards.MAX_QUANTITY:
            raise ValidationError(_l("Enter a whole number from 1 to %(n)d.",
                                     n=rewards.MAX_QUANTITY))


def _most_for(reward: Reward, have: int, balance: int) -> int:
    """The most the member could order now (0: nothing), for the form's hints."""
    most = rewards.MAX_QUANTITY
    if reward.stock is not None:
        most = min(most, reward.stock)
    if reward.per_member_limit is not None:
        most = min(most, reward.per_member_limit - have)
    most = min(most, balance // reward.points_cost_minor)
    return max(most, 0)


@bp.get("/", endpoint="catalogue")
@member_page("shop.desk")
def catalogue():
    """What the member's community and street offer, with the price, stock and their limit."""
    page = db.paginate(rewards.rewards_query(current_user), page=page_arg(),
                       per_page=CATALOGUE_PER_PAGE, error_out=False)
    have = rewards.ordered_counts(current_user.id, [r.id for r in page.items])
    balance = _balance(current_user)
    # One key per reward's form: a double click places one order.
    forms = {r.id: OrderForm(formdata=None, quantity="1") for r in page.items}
    most = {r.id: _most_for(r, have.get(r.id, 0), balance) for r in page.items}
    return render_template("shop/catalogue.html", page=page, have=have, forms=forms,
                           most=most, balance=balance,
                           held=rewards.held_points(current_user.id))


@bp.post("/rewards/<reward_id>/order", endpoint="order")
@_member_action
def order(reward_id: str):
    """Order a reward: the stock is taken and the points are held at once, one time only."""
    try:
        reward = rewards.visible_reward(current_user, _id_or_404(reward_id))
    except NotFound:
        abort(404)
    title = reward.title
    form = OrderForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("shop.catalogue"))
    quantity = int(form.quantity.data)
    try:
        with once(form):
            placed = rewards.place_order(actor=current_user, reward_id=reward.id,
                                         quantity=quantity)
    except AlreadySent:
        db.session.rollback()
        flash(_("This order form was already sent; the order was placed only once."), "info")
        return redirect(url_for("shop.my_orders"))
    except OutOfStock:
        db.session.rollback()
        left = db.session.get(Reward, reward.id).stock or 0
        if left:
            _refuse(_("Only %(n)d of %(title)s left; please order fewer.", n=left, title=title))
        else:
            _refuse(_("%(title)s is out of stock.", title=title))
    except LimitReached:
        db.session.rollback()
        have = rewards.ordered_counts(current_user.id, [reward.id]).get(reward.id, 0)
        _refuse(_("You may order at most %(limit)d of %(title)s, and you already have "
                  "%(have)d.", limit=reward.per_member_limit or 0, title=title, have=have))
    except InsufficientPoints:
        db.session.rollback()
        _refuse(_("Not enough points: %(title)s × %(n)d costs %(points)s points and your "
                  "balance is %(balance)s.", title=title, n=quantity,
                  points=fmt(reward.points_cost_minor * quantity),
                  balance=fmt(_balance(current_user))))
    except DomainError as err:
        _refuse(err.detail)
        for messages in (err.errors or {}).values():
            for message in messages:
                flash(message, "danger")
    else:
        flash(_("Ordered: %(title)s × %(n)d. %(points)s points are set aside until staff hand "
                "it over.", title=title, n=placed.quantity, points=fmt(placed.points_minor)),
              "success")
        return redirect(url_for("shop.my_orders"))
    return redirect(url_for("shop.catalogue"))


@bp.get("/orders", endpoint="my_orders")
@member_page("shop.desk")
def my_orders():
    """The member's orders, newest first, with cancel for those not yet handed over."""
    page = db.paginate(rewards.orders_query(current_user), page=page_arg(),
                       per_page=MY_ORDERS_PER_PAGE, error_out=False)
    return render_template("shop/orders.html", page=page, form=FlaskForm(),
                           balance=_balance(current_user),
                           held=rewards.held_points(current_user.id))


@bp.post("/orders/<order_id>/cancel", endpoint="cancel_order")
@_member_action
def cancel_order(order_id: str):
    """The member cancels their own order waiting for hand-over: points and stock come back."""
    found = db.session.get(RewardOrder, _id_or_404(order_id))
    if found is None or found.member_id != current_user.id:
        abort(404)
    try:
        closed = rewards.cancel(actor=current_user, order_id=found.id)
    except DomainError as err:
        _refuse(err.detail)
    else:
        flash(_("The order was cancelled; %(points)s points are back in your balance.",
                points=fmt(closed.points_minor)), "success")
    return redirect(url_for("shop.my_orders"))


# --- staff: the desk -----------------------------------------------------------------------


def _status_arg() -> str:
    raw = request.args.get("status", "reserved")
    if raw in STATUS_FILTERS:
        return raw
    flash(_("Unknown status; showing the orders waiting for hand-over."), "warning")
    return "reserved"


def _managed_or_404(reward_id: int) -> Reward:
    """A reward in the staff member's reach; anything else is not found."""
    try:
        return rewards.managed_reward(current_user, reward_id)
    except (Forbidden, NotFound):
        db.session.rollback()
        abort(404)


def _reward_arg() -> Reward | None:
    raw = request.args.get("reward_id")
    if raw is None or raw == "":
        return None
    return _managed_or_404(_id_or_404(raw))


@bp.get("/desk")
@roles_required("staff")
def desk():
    """Orders of the staff member's reach by status (waiting first), and their rewards."""
    status = _status_arg()
    only = _reward_arg()
    orders = db.paginate(
        rewards.orders_query(current_user, status=None if status == "all" else status,
                             reward_id=only.id if only else None),
        page=page_arg(), per_page=DESK_ORDERS_PER_PAGE, error_out=False)
    listed = db.paginate(rewards.rewards_query(current_user, include_inactive=True),
                         page=_page_of("rewards_page"), per_page=DESK_REWARDS_PER_PAGE,
                         error_out=False)
    return render_template("shop/desk.html", orders=orders, listed=listed, status=status,
                           filters=STATUS_FILTERS, only=only, form=FlaskForm())


def _desk_order_or_404(order_id: str) -> RewardOrder:
    """An order of a reward in the staff member's reach; anything else is not found."""
    found = db.session.get(RewardOrder, _id_or_404(order_id))
    if found is None or not access.reaches(current_user, found.reward.org_unit):
        abort(404)
    return found


def _to_desk():
    return redirect(safe_next(request.referrer, "shop.desk") if request.referrer
                    else url_for("shop.desk"))


@bp.post("/desk/orders/<order_id>/hand-over", endpoint="hand_over")
@roles_required("staff")
def hand_over(order_id: str):
    """Staff give the reward to the member: the held points go to the community shop."""
    found = _desk_order_or_404(order_id)
    name = _shown_name(found.member)
    try:
        done = rewards.fulfil(actor=current_user, order_id=found.id)
    except DomainError as err:
        _refuse(err.detail)
    else:
        flash(_("Handed over: %(title)s × %(n)d to %(name)s.", title=done.reward.title,
                n=done.quantity, name=name), "success")
    return _to_desk()


@bp.post("/desk/orders/<order_id>/cancel", endpoint="desk_cancel")
@roles_required("staff")
def desk_cancel(order_id: str):
    """Staff cancel an order waiting for hand-over: the member's points and the stock return."""
    found = _desk_order_or_404(order_id)
    name = _shown_name(found.member)
    try:
        rewards.cancel(actor=current_user, order_id=found.id)
    except DomainError as err:
        _refuse(err.detail)
    else:
        flash(_("The order of %(name)s was cancelled; the points and the stock are back.",
                name=name), "success")
    return _to_desk()


# --- staff: adding and changing rewards ---------------------------------------------------


class RewardForm(FlaskForm):
    title = StringField(_l("Name of the reward"), validators=[
        DataRequired(_l("Please enter the name.")), Length(max=rewards.MAX_TITLE)])
    kind = RadioField(_l("Kind"), choices=[SelectChoice(kind, KIND_LABELS[kind])
                                           for kind in REWARD_KINDS],
                      validators=[InputRequired(_l("Choose goods or a service."))])
    description = TextAreaField(_l("Description (optional)"), validators=[
        Optional(), Length(max=rewards.MAX_DESCRIPTION)])
    points_cost = PointsField(_l("Price in points"), validators=[
        DataRequired(_l("Please enter the price in points."))])
    unlimited = BooleanField(_l("Unlimited stock"))
    stock = StringField(_l("Stock"), filters=[_plain_number])
    per_member_limit = StringField(_l("Limit per member (optional)"), filters=[_plain_number])

    def validate_stock(self, field):
        if self.unlimited.data:
            return
        if not field.data:
            raise ValidationError(_l("Enter the stock, or tick unlimited."))
        if _whole(field.data, MAX_COUNT_DIGITS) is None:
            raise ValidationError(_l("Enter a whole number, or tick unlimited."))

    def validate_per_member_limit(self, field):
        if field.data and _whole(field.data, MAX_COUNT_DIGITS) is None:
            raise ValidationError(_l("Enter a whole number, or leave it empty for no limit."))

    def stock_value(self) -> int | None:
        return None if self.unlimited.data else _whole(self.stock.data, MAX_COUNT_DIGITS)

    def limit_value(self) -> int | None:
        return _whole(self.per_member_limit.data, MAX_COUNT_DIGITS)


class NewRewardForm(RewardForm):
    org_unit_id = SelectField(_l("Offered by"), validators=[
        InputRequired(_l("Choose the community or grid that offers it."))])


class EditRewardForm(RewardForm):
    is_active = BooleanField(_l("Offered to members (untick to withdraw it)"))
    # The stock the form was opened with: left as it was, orders placed meanwhile still count.
    stock_seen = HiddenField()


# Where a service error about a reward belongs on the form.
REWARD_FIELDS = {"points_cost_minor": "points_cost"}


@bp.route("/desk/rewards/new", methods=["GET", "POST"], endpoint="new_reward")
@roles_required("staff")
def new_reward():
    form = NewRewardForm()
    form.org_unit_id.choices = [SelectChoice(str(unit.id), label)
                                for unit, label in users.units_in_reach(current_user)]
    if request.method == "GET":
        form.kind.data = "goods"
        if form.org_unit_id.choices:
            form.org_unit_id.data = form.org_unit_id.choices[0].value
    elif form.validate_on_submit():
        try:
            created = rewards.create_reward(
                actor=current_user, org_unit_id=int(form.org_unit_id.data),
                title=form.title.data, kind=form.kind.data,
                description=form.description.data or "",
                points_cost_minor=form.points_cost.minor, stock=form.stock_value(),
                per_member_limit=form.limit_value())
        except (Forbidden, NotFound):
            db.session.rollback()
            form.org_unit_id.errors = [*form.org_unit_id.errors,
                                       _("Choose a community or grid in your area.")]
        except DomainError as err:
            place_domain_error(form, err, REWARD_FIELDS)
        else:
            flash(_("The reward %(title)s was added to the shop.", title=created.title),
                  "success")
            return redirect(url_for("shop.desk"))
    status = 200
    if request.method == "POST":
        status = 422
        flash(_("Nothing was saved; please check the marked fields."), "danger")
    return render_template("shop/reward_form.html", form=form, reward=None), status


def _seen_stock(text: str | None) -> int | None | object:
    """The stock the edit form showed ('' for unlimited); rewards.UNSET when unreadable."""
    if text == "":
        return None
    number = _whole(text, MAX_COUNT_DIGITS)
    return rewards.UNSET if number is None else number


@bp.route("/desk/rewards/<reward_id>", methods=["GET", "POST"], endpoint="edit_reward")
@roles_required("staff")
def edit_reward(reward_id: str):
    found = _managed_or_404(_id_or_404(reward_id))
    form = EditRewardForm()
    if request.method == "GET":
        form = EditRewardForm(
            formdata=None, title=found.title, kind=found.kind, description=found.description,
            points_cost=fmt(found.points_cost_minor), unlimited=found.stock is None,
            stock="" if found.stock is None else str(found.stock),
            per_member_limit="" if found.per_member_limit is None
            else str(found.per_member_limit),
            is_active=found.is_active, stock_seen="" if found.stock is None
            else str(found.stock))
    elif form.validate_on_submit():
        stock = form.stock_value()
        seen = _seen_stock(form.stock_seen.data)
        try:
            saved = rewards.update_reward(
                actor=current_user, reward_id=found.id, title=form.title.data,
                kind=form.kind.data, description=form.description.data or "",
                points_cost_minor=form.points_cost.minor,
                # Unchanged on the form: keep what orders have left of it since.
                stock=rewards.UNSET if seen is not rewards.UNSET and stock == seen else stock,
                per_member_limit=form.limit_value(), is_active=form.is_active.data)
        except (Forbidden, NotFound):
            db.session.rollback()
            abort(404)
        except DomainError as err:
            place_domain_error(form, err, REWARD_FIELDS)
        else:
            flash(_("The reward %(title)s was saved.", title=saved.title), "success")
            return redirect(url_for("shop.desk"))
    status = 200
    if request.method == "POST":
        status = 422
        flash(_("Nothing was saved; please check the marked fields."), "danger")
    return render_template("shop/reward_form.html", form=form, reward=found), status
