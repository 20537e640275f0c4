"""Bearer tokens."""

from __future__ import annotations

from flask import current_app, g, request

from timebank.api.base import Blueprint, problem_response_name, public
from timebank.extensions import limiter
from timebank.schemas import TokenIn, TokenOut
from timebank.services import users

blp = Blueprint("api_auth", __name__, description="Sign in and out with bearer tokens")

token_in = TokenIn()
token_out = TokenOut()


@blp.route("/auth/tokens", methods=["POST"])
@limiter.limit(lambda: current_app.config["SIGN_IN_RATE_LIMIT"])
@blp.arguments(TokenIn)
@blp.response(201, TokenOut)
@blp.alt_response(401, response=problem_response_name(401))
@blp.alt_response(429, response=problem_response_name(429))
@blp.doc(security=[])
@public
def create_token(args):
    """Exchange a username and password for a bearer token."""
    raw, token = users.issue_token(username=args["username"], password=args["password"],
                                   ttl_hours=current_app.config["TOKEN_TTL_HOURS"],
                                   client=request.remote_addr or "")
    return {"token": raw, "expires_at": token.expires_at, "user": token.user}


@blp.route("/auth/tokens/current", methods=["DELETE"])
@blp.response(204)
def revoke_token():
    """Revoke the token this request was made with."""
    users.revoke_token(g.api_token.id)
