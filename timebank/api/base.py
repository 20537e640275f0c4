"""What every API view shares: bearer auth, problem+json errors, idempotency, paging."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from http import HTTPStatus

import flask_smorest
from apispec import BasePlugin
from flask import Flask, Response, current_app, g, request
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError, OperationalError
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException

from timebank.errors import DomainError, Unauthenticated, ValidationFailed
from timebank.extensions import db
from timebank.models import User
from timebank.schemas import ProblemSchema
from timebank.services import idempotency, tx, users


class Parser(FlaskParser):
    """Bodies parsed by the app's JSON provider, so every malformed body is a clean 400."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return webargs_core.missing
        data = req.get_data(cache=True)
        if not data.strip():
            return webargs_core.missing
        try:
            return current_app.json.loads(data)
        except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
            return self._handle_invalid_json_error(exc, req)


class Blueprint(flask_smorest.Blueprint):
    """Every API blueprint parses its arguments with the parser above."""

    ARGUMENTS_PARSER = Parser()


# --- the errors in the OpenAPI document ------------------------------------------------

PROBLEM_MEDIA_TYPE = "application/problem+json"

# What each error status means in this API, with the codes it may carry.
PROBLEM_DESCRIPTIONS = {
    400: "The body is not valid JSON (`bad_request`).",
    401: "No valid bearer token, or a wrong username or password (`unauthenticated`).",
    403: "Not allowed for this user (`forbidden`, `self_approval`, `transfer_not_allowed`).",
    404: "The addressed or a referenced object does not exist, or is out of the caller's "
         "reach (`not_found`, `code_not_found`).",
    405: "This method is not allowed here (`method_not_allowed`).",
    409: "The change conflicts with the current state (`conflict`, `invalid_transition`, "
         "`idempotency_conflict`, `overlapping_record`, `already_exists`, `already_claimed`, "
         "`out_of_stock`, `code_already_used`, `ledger_integrity`).",
    410: "The redemption code has expired (`code_expired`).",
    413: "The request body is too large (`payload_too_large`).",
    422: "The input is not valid (`validation_error`, with `errors` by field) or breaks a "
         "rule (`insufficient_points`, `checkin_refused`, `limit_reached`, "
         "`daily_cap_reached`).",
    429: "Too many attempts; try again later (`rate_limited`).",
    503: "The database is not available; try again (`unavailable`).",
}


def problem_response_name(status: int) -> str:
    """The name of the shared error response (flask-smorest's own names, e.g. NOT_FOUND)."""
    return HTTPStatus(status).name


class Api(flask_smorest.Api):
    """Errors are documented as problem+json, status by status, instead of one default."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self):
        for status in HTTPStatus:
            if status < 400:
                continue
            response = {
                "description": PROBLEM_DESCRIPTIONS.get(status, status.phrase),
                "content": {PROBLEM_MEDIA_TYPE: {"schema": self.ERROR_SCHEMA}},
            }
            if status == 401:
                response["headers"] = {"WWW-Authenticate": {
                    "description": "`Bearer`", "schema": {"type": "string"}}}
            self.spec.components.response(status.name, response, lazy=True)


def problem_statuses(path: str, method: str, operation: dict) -> set[int]:
    """The error statuses every operation of its kind may answer."""
    public = operation.get("security") == []
    has_body = "requestBody" in operation
    has_parameters = bool(operation.get("parameters"))
    statuses = {503}
    if not public:
        statuses |= {401, 403}
    if "{" in path or has_body or has_parameters:
        statuses.add(404)
    if has_body:
        statuses |= {400, 413}
    if method != "get":
        statuses |= {409, 422}
    if has_parameters or has_body:
        statuses.add(422)
    return statuses


class ProblemResponses(BasePlugin):
    """Documents on every operation the error statuses its kind may answer."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            documented = {str(status) for status in responses}
            for status in sorted(problem_statuses(path or "", method, operation)):
                if str(status) not in documented:
                    responses[str(status)] = problem_response_name(status)


API_PREFIX = "/api/"
PROBLEM_TYPE = "about:blank"
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def public(view: Callable) -> Callable:
    """Mark a view as reachable without a token."""
    view.is_public = True
    return view


def actor() -> User:
    return g.api_user


def problem(status: int, code: str, detail: str, *, title: str | None = None,
            errors: dict | None = None, headers: dict | None = None) -> Response:
    body = {
        "type": PROBLEM_TYPE,
        "title": title or _http_title(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_title(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "Error")


def _flatten_webargs(messages) -> dict[str, list[str]]:
    """webargs nests errors by location ({'json': {'field': [...]}}); clients want fields."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            flat.setdefault(prefix or "_schema", []).extend(node)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(f"{prefix}.{index}", value)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(node))

    if isinstance(messages, dict):
        for location, node in messages.items():
            if location in ("json", "query", "form", "headers", "view_args", "files"):
                walk("", node)
            else:
                walk(str(location), node)
    else:
        walk("", messages)
    return flat


def _is_api_request() -> bool:
    return request.path.startswith(API_PREFIX) or request.path == "/healthz"


def handle_http_exception(error: HTTPException):
    if not _is_api_request():
        from timebank.web.common import http_error_page

        return http_error_page(error)
    db.session.rollback()
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = None
    if "messages" in data:
        errors = _flatten_webargs(data["messages"])
    if status == 400 and errors and any("Invalid JSON" in m for ms in errors.values()
                                        for m in ms):
        return problem(400, "bad_request", _("The request body is not valid JSON."))
    if status == 422:
        return problem(422, "validation_error", _("Some fields are not valid."),
                       errors=errors or {})
    detail = {
        404: _("Nothing is at this address."),
        405: _("This method is not allowed here."),
        413: _("The request body is too large."),
    }.get(status, error.description or _http_title(status))
    return problem(status, HTTP_CODES.get(status, "http_error"), str(detail), errors=errors)


def handle_domain_error(error: DomainError):
    db.session.rollback()
    if not _is_api_request():
        raise error
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
    return problem(error.status, error.code, error.detail, title=str(error.title),
                   errors=error.errors, headers=headers)


def handle_integrity_error(error: IntegrityError):
    db.session.rollback()
    current_app.logger.warning("integrity error: %s", error.orig)
    if not _is_api_request():
        raise error
    return problem(409, "conflict", _("This change conflicts with the current data."))


def handle_operational_error(error: OperationalError):
    db.session.rollback()
    current_app.logger.error("database unavailable: %s", error.orig)
    if not _is_api_request():
        from timebank.web.common import database_unavailable_page

        return database_unavailable_page()
    return problem(503, "unavailable", _("The database is not available; try again."))


# flask-smorest's view of the OpenAPI document: public, so clients can read the contract.
OPENAPI_ENDPOINT = "api-docs.openapi_json"


def authenticate_request() -> Response | None:
    """Every /api/v1 view needs a valid bearer token unless it is marked public."""
    if not request.path.startswith(API_PREFIX):
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "is_public", False) or request.endpoint == OPENAPI_ENDPOINT:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _sep, raw = header.partition(" ")
    found = users.user_for_token(raw.strip()) if scheme.lower() == "bearer" and raw else None
    if found is None:
        return problem(401, "unauthenticated", _("Sign in and send the bearer token."),
                       headers={"WWW-Authenticate": "Bearer"})
    g.api_user, g.api_token = found
    return None


def install(app: Flask) -> None:
    app.before_request(authenticate_request)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(OperationalError, handle_operational_error)


# --- idempotency -----------------------------------------------------------------------


def _request_hash() -> str:
    raw = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = raw.decode("utf-8", "replace")
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    "description": "Printable characters, per user: the same key with the same body answers "
                   "the first answer again and changes nothing; with another body it is 409 "
                   "`idempotency_conflict`.",
}


def idempotent(view: Callable) -> Callable:
    """Honour an Idempotency-Key: the claim, the change and the stored answer commit together."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not 1 <= len(key) <= 128 or not key.isprintable():
            raise ValidationFailed(
                errors={"Idempotency-Key": [_("1 to 128 printable characters.")]}
            )
        with tx.held_commit():
            claimed = idempotency.claim(user_id=actor().id, key=key,
                                        request_hash=_request_hash())
            if claimed.request_id is None:
                return Response(claimed.replay_body, status=claimed.replay_status,
                                mimetype="application/json")
            response = current_app.make_response(view(*args, **kwargs))
            idempotency.store(claimed, status_code=response.status_code,
                              body=response.get_data(as_text=True))
        return response

    wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))
    wrapper._apidoc.setdefault("manual_doc", {}).setdefault("parameters", []).append(
        IDEMPOTENCY_KEY_PARAMETER)
    return wrapper


def paged(query, args: dict, dump: Callable) -> dict:
    """A list page: {items, total, page, per_page}."""
    page = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False,
                       count=True)
    return {"items": [dump(item) for item in page.items], "total": page.total,
            "page": args["page"], "per_page": args["per_page"]}


def paged_list(rows: list, args: dict, dump: Callable) -> dict:
    """A list page of rows already in memory (short lists), in the same shape as `paged`."""
    start = (args["page"] - 1) * args["per_page"]
    return {"items": [dump(row) for row in rows[start:start + args["per_page"]]],
            "total": len(rows), "page": args["page"], "per_page": args["per_page"]}
