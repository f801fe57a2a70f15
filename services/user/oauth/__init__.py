"""Sign-in with external providers (Google, GitHub, Facebook) over OAuth 2.0 / OpenID Connect.

`providers` knows each provider's real endpoints and how it reports who signed in; `flow` runs
the authorization code flow with PKCE, state and nonce, and hands back an `ExternalIdentity`.
What to do with that identity (sign in, link, create an account) is the API layer's business.
"""

from services.user.oauth.flow import Completed, ExternalIdentity, OAuthError, OAuthFlow
from services.user.oauth.providers import PROVIDERS, Provider, ProviderConfig

__all__ = [
    "PROVIDERS",
    "Completed",
    "ExternalIdentity",
    "OAuthError",
    "OAuthFlow",
    "Provider",
    "ProviderConfig",
]
