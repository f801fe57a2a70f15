"""A local OAuth 2.0 / OpenID Connect provider for the sign-in tests, built with authlib.

Google, GitHub and Facebook cannot be reached from here, so this module serves three
"personalities" of one real authorization server (authlib's Flask integration) on 127.0.0.1:
the same endpoint shapes, parameters and response bodies as the real providers, including their
quirks (GitHub answers the token endpoint form-encoded unless JSON is asked for and reports
errors with HTTP 200; Facebook nests errors and only returns a confirmed email). The service is
configured for it exactly as for a real provider: client id, secret and endpoint URLs.

The browser leg is real HTTP too: `Browser.authorize()` signs a person in at the provider (a
session cookie), opens the authorization URL, answers the consent form and returns the redirect
to our callback, with `code` and `state` (or `error`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, request
from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer, make_server

from services.user.settings import OAuthClient

PERSONALITIES = ("google", "github", "facebook")
SCOPES = {
    "google": "openid email profile",
    "github": "read:user user:email",
    "facebook": "email public_profile",
}


@dataclass
class Person:
    """Someone with an account at the provider."""

    subject: str
    email: str | None
    email_verified: bool = True
    name: str = "Ada Lovelace"
    login: str = "ada"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scope: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


class StrictCodeChallenge(CodeChallenge):
    """PKCE required from every client, confidential ones too, as our providers accept it."""

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        if not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge'")
        if grant.request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class QueryTokenRequest(FlaskOAuth2Request):
    """Token request parameters from the query string (how Facebook's Graph API takes them)."""

    @property
    def form(self) -> Any:
        return self._request.values


class QueryTokenServer(AuthorizationServer):
    def create_oauth2_request(self, req: Any) -> QueryTokenRequest:
        return QueryTokenRequest(request)


@dataclass
class LocalProvider:
    """The running provider; tests register clients and people, and may turn knobs."""

    base_url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, private=True))
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    clients: dict[str, Client] = field(default_factory=dict)
    people: dict[str, dict[str, Person]] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: dict[str, tuple[str, Person, str]] = field(default_factory=dict)
    sessions: dict[str, Person] = field(default_factory=dict)
    issued_id_tokens: list[str] = field(default_factory=list)
    # knob: the next Google token response carries this id_token instead of a fresh one
    next_id_token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- configuration, as a real provider's console would give it ----------------------------

    def issuer(self, personality: str = "google") -> str:
        return f"{self.base_url}/{personality}"

    def register_client(self, personality: str, redirect_uri: str) -> OAuthClient:
        """Register an app at the provider; the `OAuthClient` to configure our service with."""
        client = Client(
            client_id=f"{personality}-{secrets.token_hex(6)}",
            client_secret=secrets.token_urlsafe(24),
            redirect_uris=[redirect_uri],
            scope=SCOPES[personality],
        )
        self.clients[client.client_id] = client
        base = f"{self.base_url}/{personality}"
        urls: dict[str, Any] = {
            "google": {
                "authorize_url": f"{base}/o/oauth2/v2/auth",
                "token_url": f"{base}/token",
                "jwks_url": f"{base}/oauth2/v3/certs",
                "issuer": self.issuer("google"),
            },
            "github": {
                "authorize_url": f"{base}/login/oauth/authorize",
                "token_url": f"{base}/login/oauth/access_token",
                "userinfo_url": f"{base}/api/user",
                "emails_url": f"{base}/api/user/emails",
            },
            "facebook": {
                "authorize_url": f"{base}/v19.0/dialog/oauth",
                "token_url": f"{base}/v19.0/oauth/access_token",
                "userinfo_url": f"{base}/me?fields=id,name,email",
            },
        }[personality]
        return OAuthClient(client_id=client.client_id, client_secret=client.client_secret, **urls)

    def person(self, personality: str, **fields: Any) -> Person:
        """A new person with an account at the provider (random subject and email)."""
        tag = secrets.token_hex(6)
        fields.setdefault("subject", str(int(tag, 16)) if personality != "google" else tag)
        fields.setdefault("email", f"p{tag}@example.com")
        fields.setdefault("login", f"user{tag}")
        found = Person(**fields)
        self.people.setdefault(personality, {})[found.subject] = found
        return found

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [public]}

    # -- the Flask application ----------------------------------------------------------------

    def build_app(self) -> Flask:
        app = Flask("local-oauth-provider")
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 3600}
        servers = {p: self._server(app, p) for p in PERSONALITIES}
        authorize_paths = {
            "google": "/google/o/oauth2/v2/auth",
            "github": "/github/login/oauth/authorize",
            "facebook": "/facebook/v19.0/dialog/oauth",
        }
        token_paths = {
            "google": "/google/token",
            "github": "/github/login/oauth/access_token",
            "facebook": "/facebook/v19.0/oauth/access_token",
        }
        for p in PERSONALITIES:
            app.add_url_rule(
                authorize_paths[p],
                f"{p}_authorize",
                self._authorize_view(servers[p], p),
                methods=["GET", "POST"],
            )
            app.add_url_rule(
                token_paths[p],
                f"{p}_token",
                self._token_view(servers[p], p),
                methods=["GET"] if p == "facebook" else ["POST"],
            )
            app.add_url_rule(
                f"/{p}/session", f"{p}_session", self._session_view(p), methods=["POST"]
            )
        app.add_url_rule("/google/oauth2/v3/certs", "google_jwks", lambda: self.jwks())
        app.add_url_rule(
            "/google/.well-known/openid-configuration", "google_discovery", self._discovery
        )
        app.add_url_rule("/github/api/user", "github_user", self._github_user)
        app.add_url_rule("/github/api/user/emails", "github_emails", self._github_emails)
        app.add_url_rule("/facebook/me", "facebook_me", self._facebook_me)
        return app

    def _server(self, app: Flask, personality: str) -> AuthorizationServer:
        provider = self

        def query_client(client_id: str) -> Client | None:
            client = provider.clients.get(client_id)
            if client is not None and client.client_id.startswith(personality + "-"):
                return client
            return None

        def save_token(token: dict[str, Any], req: Any) -> None:
            with provider.lock:
                provider.tokens[token["access_token"]] = (personality, req.user, req.scope or "")

        class Grant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]  # noqa: RUF012

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                with provider.lock:
                    provider.codes[code] = Code(
                        code=code,
                        client_id=req.client.client_id,
                        redirect_uri=req.payload.redirect_uri,
                        scope=req.scope,
                        person=req.user,
                        code_challenge=data.get("code_challenge"),
                        code_challenge_method=data.get("code_challenge_method"),
                        nonce=data.get("nonce"),
                        auth_time=int(time.time()),
                        expires_at=time.time() + 300,
                    )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                if found and found.client_id == client.client_id and found.expires_at > time.time():
                    return found
                return None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                with provider.lock:
                    provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Person:
                return authorization_code.person

        class OpenID(OpenIDCode):
            def exists_nonce(self, nonce: str, req: Any) -> bool:
                # a nonce already bound to a live code is a replayed authorization request
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return provider.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": provider.kid, "typ": "JWT"}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {
                    "iss": provider.issuer("google"),
                    "aud": client.client_id,
                    "azp": client.client_id,
                }

            def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
                info: dict[str, Any] = {"sub": user.subject}
                if "email" in scope.split() and user.email:
                    info.update(email=user.email, email_verified=user.email_verified)
                if "profile" in scope.split():
                    info["name"] = user.name
                return info

        if personality == "facebook":  # Graph takes the exchange as a GET with a query string
            Grant.TOKEN_ENDPOINT_HTTP_METHODS = ["GET"]
            server: AuthorizationServer = QueryTokenServer(
                app, query_client=query_client, save_token=save_token
            )
        else:
            server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
        extensions: list[Any] = [StrictCodeChallenge(required=True)]
        if personality == "google":
            extensions.append(OpenID(require_nonce=True))
        server.register_grant(Grant, extensions)
        return server

    def _session_view(self, personality: str) -> Any:
        def view() -> Response:
            person = self.people.get(personality, {}).get(request.form["subject"])
            if person is None:
                return Response("no such account", status=403)
            sid = secrets.token_urlsafe(16)
            self.sessions[sid] = person
            response = Response("signed in", status=200)
            response.set_cookie(f"{personality}_sid", sid, httponly=True)
            return response

        return view

    def _authorize_view(self, server: AuthorizationServer, personality: str) -> Any:
        def view() -> Any:
            person = self.sessions.get(request.cookies.get(f"{personality}_sid", ""))
            if person is None:
                return Response("sign in first", status=401)
            try:
                grant = server.get_consent_grant(end_user=person)
            except Exception as error:  # an OAuth2Error: redirect or 400, as authlib decides
                return server.handle_error_response(request, error)
            if request.method == "GET":
                return Response(
                    f"<form method='post'><p>Allow {html.escape(grant.client.client_id)} to see"
                    f" {html.escape(grant.request.scope or '')}?</p>"
                    "<button name='decision' value='allow'>Allow</button>"
                    "<button name='decision' value='deny'>Cancel</button></form>",
                    mimetype="text/html",
                )
            allowed = request.form.get("decision") == "allow"
            return server.create_authorization_response(
                grant_user=person if allowed else None, grant=grant
            )

        return view

    def _token_view(self, server: AuthorizationServer, personality: str) -> Any:
        def view() -> Response:
            answer = server.create_token_response()
            body: dict[str, Any] = json.loads(answer.get_data(as_text=True) or "{}")
            if personality == "google":
                return self._google_token(answer, body)
            if personality == "github":
                return self._github_token(answer, body)
            return self._facebook_token(answer, body)

        return view

    def _google_token(self, answer: Response, body: dict[str, Any]) -> Response:
        if answer.status_code == 200 and "id_token" in body:
            if self.next_id_token is not None:
                body["id_token"], self.next_id_token = self.next_id_token, None
            self.issued_id_tokens.append(body["id_token"])
            answer.set_data(json.dumps(body))
        return answer

    def _github_token(self, answer: Response, body: dict[str, Any]) -> Response:
        if answer.status_code == 200:
            out = {
                "access_token": body["access_token"],
                "token_type": "bearer",
                "scope": ",".join(body.get("scope", "").split()),
            }
        else:  # GitHub reports token errors with 200 and an error field
            out = {
                "error": "bad_verification_code"
                if body.get("error") in ("invalid_grant", "invalid_request")
                else body.get("error", "unknown_error"),
                "error_description": "The code passed is incorrect or expired.",
                "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code",
            }
        if "application/json" in request.headers.get("Accept", ""):
            return Response(json.dumps(out), status=200, mimetype="application/json")
        return Response(urlencode(out), status=200, mimetype="application/x-www-form-urlencoded")

    def _facebook_token(self, answer: Response, body: dict[str, Any]) -> Response:
        if answer.status_code == 200:
            out: dict[str, Any] = {
                "access_token": body["access_token"],
                "token_type": "bearer",
                "expires_in": 5183944,
            }
            return Response(json.dumps(out), status=200, mimetype="application/json")
        error = {
            "message": body.get("error_description") or "Invalid verification code format.",
            "type": "OAuthException",
            "code": 100,
            "fbtrace_id": secrets.token_urlsafe(8),
        }
        return Response(json.dumps({"error": error}), status=400, mimetype="application/json")

    def _discovery(self) -> dict[str, Any]:
        base = self.issuer("google")
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "code_challenge_methods_supported": ["plain", "S256"],
        }

    def _bearer(self, personality: str) -> Person | None:
        header = request.headers.get("Authorization", "")
        token = header.split(" ", 1)[1] if " " in header else request.args.get("access_token", "")
        found = self.tokens.get(token)
        if found is None or found[0] != personality:
            return None
        return found[1]

    def _github_user(self) -> Response:
        person = self._bearer("github")
        if person is None:
            return _json({"message": "Bad credentials", "status": "401"}, 401)
        user_id = int(person.subject)
        return _json(
            {
                "login": person.login,
                "id": user_id,
                "node_id": base64.b64encode(f"04:User{user_id}".encode()).decode(),
                "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
                "html_url": f"https://github.com/{person.login}",
                "type": "User",
                "site_admin": False,
                "name": person.name,
                "email": None,  # the public email; private by default
            }
        )

    def _github_emails(self) -> Response:
        person = self._bearer("github")
        if person is None:
            return _json({"message": "Bad credentials", "status": "401"}, 401)
        emails = [
            {
                "email": f"{person.subject}+{person.login}@users.noreply.github.com",
                "primary": False,
                "verified": True,
                "visibility": None,
            }
        ]
        if person.email:
            emails.insert(
                0,
                {
                    "email": person.email,
                    "primary": True,
                    "verified": person.email_verified,
                    "visibility": "private",
                },
            )
        return _json(emails)

    def _facebook_me(self) -> Response:
        person = self._bearer("facebook")
        if person is None:
            return _json(
                {
                    "error": {
                        "message": "Invalid OAuth access token.",
                        "type": "OAuthException",
                        "code": 190,
                    }
                },
                400,
            )
        header = request.headers.get("Authorization", "")
        token = header.split(" ", 1)[1] if " " in header else request.args.get("access_token", "")
        proof = request.args.get("appsecret_proof")
        if proof is not None:
            secrets_ = [c.client_secret for c in self.clients.values()]
            expected = [
                hmac.new(s.encode(), token.encode(), hashlib.sha256).hexdigest() for s in secrets_
            ]
            if proof not in expected:
                return _json(
                    {
                        "error": {
                            "message": "Invalid appsecret_proof provided in the API argument",
                            "type": "GraphMethodException",
                            "code": 100,
                        }
                    },
                    400,
                )
        fields = request.args.get("fields", "id,name").split(",")
        me: dict[str, Any] = {"id": person.subject}
        if "name" in fields:
            me["name"] = person.name
        if "email" in fields and person.email and person.email_verified:
            me["email"] = person.email  # Graph returns only a confirmed address
        return _json(me)

    # -- serving --------------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def serve(cls) -> Iterator[LocalProvider]:
        provider = cls()
        server: BaseWSGIServer = make_server("127.0.0.1", 0, provider.build_app(), threaded=True)
        provider.base_url = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, name="oauth-provider", daemon=True)
        thread.start()
        try:
            yield provider
        finally:
            server.shutdown()
            thread.join(timeout=5)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@dataclass(frozen=True)
class Redirect:
    """Where the provider sent the browser back to."""

    url: str
    params: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.params.get("code")

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


class Browser:
    """The user's browser at the provider: signs in, opens the authorization URL, consents."""

    def __init__(self, provider: LocalProvider) -> None:
        self.provider = provider

    async def authorize(
        self, authorize_url: str, person: Person, *, consent: bool = True
    ) -> Redirect:
        personality = urlsplit(authorize_url).path.split("/")[1]
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as browser:
            signed_in = await browser.post(
                f"{self.provider.base_url}/{personality}/session", data={"subject": person.subject}
            )
            assert signed_in.status_code == 200, signed_in.text
            page = await browser.get(authorize_url)
            if page.status_code == 302:  # refused before the consent page
                return _redirect(page.headers["location"])
            assert page.status_code == 200, page.text
            answer = await browser.post(
                authorize_url, data={"decision": "allow" if consent else "deny"}
            )
            assert answer.status_code == 302, answer.text
            return _redirect(answer.headers["location"])


def _redirect(location: str) -> Redirect:
    return Redirect(url=location, params=dict(parse_qsl(urlsplit(location).query)))


@pytest.fixture(scope="session", name="local_provider")
def local_provider_fixture() -> Iterator[LocalProvider]:
    with LocalProvider.serve() as provider:
        yield provider


@pytest.fixture(name="browser")
def browser_fixture(local_provider: LocalProvider) -> Browser:
    return Browser(local_provider)
