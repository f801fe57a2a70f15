"""The user service's tables (schema `users`). Migrations in `migrations/` create them.

Secrets are never stored as given: passwords as argon2id hashes, refresh tokens and recovery
codes as SHA-256 digests (they are 256-bit random, so a fast hash is enough), TOTP secrets and
signing keys encrypted with the service's key-encryption key (see `crypto.py`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from kommerce.events.outbox import OUTBOX

SCHEMA = "users"
METADATA = MetaData()


def _now() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


USERS = Table(
    "users",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", Text, nullable=False),  # as entered; uniqueness on lower(email)
    Column("email_verified_at", DateTime(timezone=True)),
    Column("password_hash", Text),  # NULL: signs in only through a linked provider
    Column("password_changed_at", DateTime(timezone=True)),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("locale", Text, nullable=False, server_default="en"),
    Column("currency", Text, nullable=False, server_default="EUR"),
    Column("notification_channels", JSONB, nullable=False, server_default=text("'[\"email\"]'")),
    Column("marketing_consent", Boolean, nullable=False, server_default=text("false")),
    Column("marketing_consent_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False, server_default="active"),  # active | disabled
    Column("totp_secret", LargeBinary),  # encrypted; set at enrolment
    Column("totp_enabled_at", DateTime(timezone=True)),  # NULL until the first code confirms it
    Column("totp_last_step", BigInteger),  # the last accepted time step: a code works once
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("users_email_key", func.lower(USERS.c.email), unique=True)

USER_ROLES = Table(
    "user_roles",
    METADATA,
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("role", Text, nullable=False),
    Column("granted_by", UUID(as_uuid=True)),
    Column("granted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("user_id", "role"),
)

ADDRESSES = Table(
    "addresses",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("label", Text, nullable=False, server_default=""),
    Column("name", Text, nullable=False),
    Column("line1", Text, nullable=False),
    Column("line2", Text, nullable=False, server_default=""),
    Column("city", Text, nullable=False),
    Column("region", Text, nullable=False, server_default=""),
    Column("postal_code", Text, nullable=False, server_default=""),
    Column("country", Text, nullable=False),  # ISO 3166-1 alpha-2
    Column("phone", Text, nullable=False, server_default=""),
    Column("default_shipping", Boolean, nullable=False, server_default=text("false")),
    Column("default_billing", Boolean, nullable=False, server_default=text("false")),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("addresses_user_idx", ADDRESSES.c.user_id)

# Verification, reset and MFA-challenge tokens are signed (HMAC) and carry their expiry; this
# table makes them single-use: a token's jti is inserted when it is issued and consumed once.
ONE_TIME_TOKENS = Table(
    "one_time_tokens",
    METADATA,
    Column("jti", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("purpose", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("consumed_at", DateTime(timezone=True)),
    _now(),
)
Index("one_time_tokens_user_idx", ONE_TIME_TOKENS.c.user_id, ONE_TIME_TOKENS.c.purpose)

REFRESH_TOKENS = Table(
    "refresh_tokens",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("family_id", UUID(as_uuid=True), nullable=False),  # = the session id
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("parent_id", UUID(as_uuid=True)),
    Column("amr", JSONB, nullable=False, server_default=text("'[]'")),
    Column("auth_time", DateTime(timezone=True), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", Text),
)
Index("refresh_tokens_family_idx", REFRESH_TOKENS.c.family_id)
Index("refresh_tokens_user_idx", REFRESH_TOKENS.c.user_id)

SIGNING_KEYS = Table(
    "signing_keys",
    METADATA,
    Column("kid", Text, primary_key=True),
    Column("private_key", LargeBinary, nullable=False),  # encrypted PKCS#8
    Column("public_jwk", JSONB, nullable=False),
    _now(),
    Column("retired_at", DateTime(timezone=True)),  # no longer signs
    Column("verify_until", DateTime(timezone=True)),  # dropped from the JWKS after this
)

IDENTITIES = Table(
    "identities",
    METADATA,
    Column("provider", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("email", Text, nullable=False, server_default=""),
    Column("linked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("provider", "subject"),
    UniqueConstraint("user_id", "provider", name="identities_one_per_provider"),
)

RECOVERY_CODES = Table(
    "recovery_codes",
    METADATA,
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("code_hash", LargeBinary, nullable=False),
    Column("used_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("user_id", "code_hash"),
)

# Append-only: a trigger (migration 0001) rejects UPDATE, DELETE and TRUNCATE.
AUDIT_LOG = Table(
    "audit_log",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_id", UUID(as_uuid=True)),  # who did it (NULL: anonymous)
    Column("subject_id", UUID(as_uuid=True)),  # whose account it concerned
    Column("action", Text, nullable=False),
    Column("outcome", Text, nullable=False),  # success | failure | denied
    Column("ip", Text, nullable=False, server_default=""),
    Column("user_agent", Text, nullable=False, server_default=""),
    Column("details", JSONB, nullable=False, server_default=text("'{}'")),
)
Index("audit_log_at_idx", AUDIT_LOG.c.at, AUDIT_LOG.c.id)
Index("audit_log_subject_idx", AUDIT_LOG.c.subject_id, AUDIT_LOG.c.id)
Index("audit_log_actor_idx", AUDIT_LOG.c.actor_id, AUDIT_LOG.c.id)
Index("audit_log_action_idx", AUDIT_LOG.c.action, AUDIT_LOG.c.id)

OUTBOX.to_metadata(METADATA)
