"""The JSON API at /api/v1: parse with a schema, call a service, dump."""

from __future__ import annotations

import flask_smorest
from flask import Flask
from marshmallow import fields

from timebank.schemas.types import LocalDateTime, MinorUnits, Text


def init_api(app: Flask) -> flask_smorest.Api:
    from timebank.api import (
        activities,
        auth,
        categories,
        helping,
        ledger,
        merchants,
        org,
        policy,
        recognition,
        records,
        rewards,
        users,
    )
    from timebank.api.base import Api, ProblemResponses, install

    api = Api(app, spec_kwargs={
        "extra_plugins": [ProblemResponses()],
        "info": {"description": "Service hours into points: records, approval, ledger, "
                                "redemption, activities and the time bank."},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    })
    api.register_field(MinorUnits, "string", "decimal")
    api.register_field(LocalDateTime, "string", "date-time")
    api.register_field(Text, "string", None)
    api.ma_plugin.converter.add_attribute_function(_decimal_string_properties)
    api.ma_plugin.converter.add_attribute_function(_text_properties)
    for module in (auth, org, users, categories, records, ledger, merchants, activities,
                   helping, recognition, rewards, policy):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    install(app)
    return api


def _decimal_string_properties(self, field, **kwargs) -> dict:
    """Decimals dumped as text (balances, hours) are strings such as "20.00", not numbers."""
    if isinstance(field, fields.Decimal) and field.as_string:
        return {"type": "string", "format": "decimal"}
    return {}


def _text_properties(self, field, **kwargs) -> dict:
    """The length limits of a Text field (checked once it is trimmed)."""
    if not isinstance(field, Text):
        return {}
    limits = {"maxLength": field.max_length}
    if field.min_length:
        limits["minLength"] = field.min_length
    return limits
