"""The service registry: every `services/<name>/app.py` with a `create_app()` is a service.

Service names use dashes (`platform-api`); their packages use underscores (`platform_api`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from kommerce.paths import REPO_ROOT


class UnknownService(LookupError):
    pass


def service_names() -> list[str]:
    root = REPO_ROOT / "services"
    return sorted(p.name.replace("_", "-") for p in root.iterdir() if (p / "app.py").is_file())


def app_factory(name: str) -> Callable[..., FastAPI]:
    if name not in service_names():
        raise UnknownService(f"unknown service {name!r}; known: {', '.join(service_names())}")
    module = importlib.import_module(f"services.{name.replace('-', '_')}.app")
    factory: Callable[..., Any] = module.create_app
    return factory


def settings_class(name: str) -> type[Any]:
    module = importlib.import_module(f"services.{name.replace('-', '_')}.settings")
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "service_name", None) == name:
            return value
    raise UnknownService(
        f"services/{name.replace('-', '_')}/settings.py defines no settings for {name}"
    )
