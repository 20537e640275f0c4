"""The JSON API at /api/v1: parse with a schema, call a service, dump."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from timebank.schemas.types import LocalDateTime, MinorUnits, Text


def init_api(app: Flask) -> Api:
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
    from timebank.api.base import install

    api = Api(app, spec_kwargs={
        "info": {"description": "Service hours into points: records, approval, ledger, "
                                "redemption, activities and the time bank."},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    })
    api.register_field(MinorUnits, "string", "decimal")
    api.register_field(LocalDateTime, "string", "date-time")
    api.register_field(Text, "string", None)
    for module in (auth, org, users, categories, records, ledger, merchants, activities,
                   helping, recognition, rewards, policy):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    install(app)
    return api
