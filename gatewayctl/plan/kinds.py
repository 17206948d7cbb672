"""The Kong entity kinds gatewayctl syncs: where each lives in the Admin API, what it depends on, what
makes it unique, and which of its fields hold secrets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str  # the DAO / schema name: GET /schemas/<name>
    collection: str  # the Admin API collection: /<collection>
    label: str  # how a person calls one
    level: int  # 1 is written first and deleted last
    # Each set of fields Kong 3.9 holds unique (besides id; `unique = true` fields and the `cache_key` column
    # of kong/db/schema/entities/*.lua and kong/plugins/*/daos.lua): the 409 sources. A one-field key
    # that is empty holds nothing (Postgres does not hold nulls unique).
    unique: tuple[tuple[str, ...], ...]
    parent: str | None = None  # foreign key field pointing at the entity this one hangs off
    nested_under: str | None = None  # only reachable under its parent (targets)
    secret_fields: tuple[str, ...] = ()
    name_field: str = "name"
    # How an entity gives up a unique value another one takes before it can take its own (a swap):
    blankable: tuple[str, ...] = ()  # unique fields Kong lets be empty: a write leaving them out frees them
    one_of: tuple[str, ...] = ()  # ... as long as one of these stays set (consumers: username or custom_id)
    recreatable: bool = False  # nothing in Kong refers to it: deleting it and creating it again loses nothing


KINDS: tuple[Kind, ...] = (
    Kind(
        "consumers",
        "consumers",
        "consumer",
        1,
        (("username",), ("custom_id",)),
        name_field="username",
        blankable=("username", "custom_id"),
        one_of=("username", "custom_id"),
    ),
    Kind("services", "services", "service", 2, (("name",),), blankable=("name",)),
    Kind("upstreams", "upstreams", "upstream", 2, (("name",),)),  # name required; targets hang off it
    Kind(
        "keyauth_credentials",
        "key-auths",
        "key-auth credential",
        2,
        (("key",),),
        parent="consumer",
        secret_fields=("key",),
        name_field="id",
        recreatable=True,
    ),
    Kind(
        "basicauth_credentials",
        "basic-auths",
        "basic-auth credential",
        2,
        (("username",),),
        parent="consumer",
        secret_fields=("password",),
        name_field="username",
        recreatable=True,
    ),
    Kind(
        "jwt_secrets",
        "jwts",
        "jwt credential",
        2,
        (("key",),),
        parent="consumer",
        secret_fields=("secret", "rsa_public_key"),
        name_field="key",
        recreatable=True,
    ),
    Kind(
        "oauth2_credentials",
        "oauth2",
        "oauth2 credential",
        2,
        (("client_id",),),  # client_id left out is generated, not emptied; its tokens cascade on delete
        parent="consumer",
        secret_fields=("client_secret",),
        name_field="client_id",
    ),
    Kind(
        "acls",
        "acls",
        "acl",
        2,
        (("consumer", "group"),),
        parent="consumer",
        name_field="group",
        recreatable=True,
    ),
    Kind("routes", "routes", "route", 3, (("name",),), parent="service", blankable=("name",)),
    Kind(
        "targets",
        "targets",
        "target",
        3,
        (("upstream", "target"),),
        parent="upstream",
        nested_under="upstreams",
        name_field="target",
        recreatable=True,
    ),
    Kind(
        "plugins",
        "plugins",
        "plugin",
        4,
        (("name", "service", "route", "consumer"), ("instance_name",)),
        blankable=("instance_name",),  # not recreatable: an oauth2 plugin's tokens cascade on its delete
    ),
)
BY_NAME = {k.name: k for k in KINDS}
LEVELS = sorted({k.level for k in KINDS})

# decK's nested keys -> kind (kong.yaml nests credentials under consumers, routes under services, ...)
NESTED_KEYS = {
    "routes": "routes",
    "plugins": "plugins",
    "targets": "targets",
    "keyauth_credentials": "keyauth_credentials",
    "basicauth_credentials": "basicauth_credentials",
    "jwt_secrets": "jwt_secrets",
    "oauth2_credentials": "oauth2_credentials",
    "acls": "acls",
}
# Which foreign key a nested entity gets, by the kind of the entity it is nested in.
PARENT_FIELD = {"services": "service", "routes": "route", "consumers": "consumer", "upstreams": "upstream"}

# Plugin config keys whose values are secret wherever they appear (besides values known to be secrets).
SECRET_CONFIG_KEYS = frozenset(
    {
        "password",
        "authorization",  # a header's value (http-log's and opentelemetry's `headers` maps)
        "provision_key",
        "client_secret",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "access_token",
        "refresh_token",
        "auth_token",
        "session_secret",
        "secret_key",
    }
)
