"""Request and response bodies of the user service's API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from babel.numbers import list_currencies
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kommerce.locales import check_country, check_locale

Password = Annotated[str, Field(min_length=1, max_length=1024)]
Email = Annotated[str, Field(min_length=3, max_length=320, examples=["ada@example.com"])]
Channel = Literal["email", "sms", "push"]


def check_currency(value: str) -> str:
    code = value.upper()
    if code not in list_currencies():
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, v: object) -> object:
        """PostgreSQL text cannot hold NUL: refuse it here (422), not in the database (500)."""
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


class RegisterRequest(Strict):
    email: Email
    password: Password
    display_name: Annotated[str, Field(max_length=100)] = ""
    locale: Annotated[str, Field(max_length=35)] = "en"

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        return check_locale(v)


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class TokenRequest(Strict):
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class EmailRequest(Strict):
    email: Email


class LoginRequest(Strict):
    email: Email
    password: Password


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type
    expires_in: int
    session_id: str


class LoginResponse(BaseModel):
    """Either tokens, or `mfa_required` with the challenge for POST /v1/auth/mfa."""

    mfa_required: bool = False
    mfa_token: str | None = None
    tokens: TokenResponse | None = None


class MfaLoginRequest(Strict):
    mfa_token: Annotated[str, Field(min_length=1, max_length=4096)]
    code: Annotated[str, Field(min_length=6, max_length=20)]


class RefreshRequest(Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class ResetRequest(Strict):
    token: Annotated[str, Field(min_length=1, max_length=4096)]
    new_password: Password


class StepUpRequest(Strict):
    password: Password | None = None
    code: Annotated[str, Field(min_length=6, max_length=20)] | None = None


class AccessTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type
    expires_in: int


class PasswordChange(Strict):
    new_password: Password


class EmailChange(Strict):
    new_email: Email


class Profile(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    display_name: str
    locale: str
    currency: str
    notification_channels: list[Channel]
    marketing_consent: bool
    marketing_consent_at: datetime | None
    roles: list[str]
    mfa_enabled: bool
    has_password: bool
    created_at: datetime


class ProfileUpdate(Strict):
    display_name: Annotated[str, Field(max_length=100)] | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    notification_channels: Annotated[list[Channel], Field(max_length=3)] | None = None
    marketing_consent: bool | None = None

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str | None) -> str | None:
        return None if v is None else check_locale(v)

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str | None) -> str | None:
        return None if v is None else check_currency(v)


class AddressIn(Strict):
    label: Annotated[str, Field(max_length=50)] = ""
    name: Annotated[str, Field(min_length=1, max_length=200)]
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str, Field(max_length=200)] = ""
    city: Annotated[str, Field(min_length=1, max_length=100)]
    region: Annotated[str, Field(max_length=100)] = ""
    postal_code: Annotated[str, Field(max_length=20)] = ""
    country: Annotated[str, Field(min_length=2, max_length=2, examples=["DE"])]
    phone: Annotated[str, Field(max_length=32)] = ""
    default_shipping: bool = False
    default_billing: bool = False

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        return check_country(v)


class Address(AddressIn):
    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class SessionOut(BaseModel):
    session_id: str
    device: str
    ip: str
    user_agent: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


class Revoked(BaseModel):
    revoked: list[str]


class TotpEnrolment(BaseModel):
    secret: str
    provisioning_uri: str


class CodeRequest(Strict):
    code: Annotated[str, Field(min_length=6, max_length=20)]


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class UserSummary(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    status: str
    roles: list[str]
    created_at: datetime


class UserPage(BaseModel):
    users: list[UserSummary]
    next_cursor: str | None


class RolesOut(BaseModel):
    user_id: uuid.UUID
    roles: list[str]


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    action: str
    outcome: str
    ip: str
    user_agent: str
    details: dict[str, object]


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None


class KeyRotated(BaseModel):
    kid: str
