"""Breakers by name: ``get_breaker``, the ``circuit_breaker`` decorator and
``load_config``, which reads the same YAML/TOML files as the Rust
``Registry`` (the file is parsed and checked by the Rust core).

Rules: the registry makes a breaker from the loaded settings the first time
a name is asked for, and hands out that same breaker afterwards.
``circuit_breaker(name=X, failure_threshold=3)`` reuses X and raises
``ValueError`` naming the setting if X was made with a different value.
Settings loaded later apply to breakers made after loading."""

from __future__ import annotations

import errno
import math
import os
import threading
from datetime import timedelta
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union, cast

from . import _fusebox
from ._breaker import CircuitBreaker, guard

__all__ = ["get_breaker", "circuit_breaker", "load_config"]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_breakers: Dict[str, CircuitBreaker] = {}
_config: Optional[_fusebox.LoadedConfig] = None

# Settings a decorator may ask for, compared with the registered breaker's.
_SETTINGS = ("failure_threshold", "recovery_timeout", "success_threshold", "half_open_max_calls")


def load_config(path: Union[str, "os.PathLike[str]"]) -> None:
    """Loads defaults and per-name settings from a ``.yaml``, ``.yml`` or
    ``.toml`` file, in the shape of the Rust ``Config``::

        defaults: {failure_threshold: 3, recovery_timeout: 30s}
        breakers: {pypi: {failure_threshold: 5}}

    or a tool's own file with ``performance: circuit_breaker: {enabled,
    failure_threshold, recovery_timeout}``. They apply to breakers the
    registry makes from now on. Raises ``FileNotFoundError`` for a missing
    file and ``ValueError`` naming the file, line and key for a bad one."""
    global _config
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "config file not found", path)
    loaded = _fusebox.load_config(path)
    with _lock:
        _config = loaded


def get_breaker(name: str) -> CircuitBreaker:
    """The registry's breaker called ``name``, made from the loaded settings
    on first use; the same object every time."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    return _registered(name, {})


def _registered(name: str, settings: Dict[str, Any]) -> CircuitBreaker:
    with _lock:
        breaker = _breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(name, config=_config, **settings)
            _breakers[name] = breaker
            return breaker
    for setting, wanted in settings.items():
        _check_same(breaker, setting, wanted)
    return breaker


def _check_same(breaker: CircuitBreaker, setting: str, wanted: Any) -> None:
    if wanted is None:
        return
    have = getattr(breaker, setting)
    if setting == "recovery_timeout":
        if isinstance(wanted, timedelta):
            wanted = wanted.total_seconds()
        same = isinstance(wanted, (int, float)) and math.isclose(have, wanted, rel_tol=1e-9)
    elif setting == "exclude":
        wanted_set = {wanted} if isinstance(wanted, type) else set(wanted)
        same = set(have) == wanted_set
    else:
        same = have == wanted
    if not same:
        if setting == "store":
            have, wanted = _redacted(have), _redacted(wanted)
        raise ValueError(
            f"{setting}: circuit {breaker.name!r} is registered with {setting}={have!r}; "
            f"it cannot be {wanted!r} here as well (use another name)"
        )


def _redacted(url: Any) -> Any:
    """A store URL as a message may show it: the password replaced by
    ``***`` (``redis://:***@host:6379/0``), as the Rust stores' messages do."""
    if not isinstance(url, str) or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    ends = [i for i in (rest.find("?"), rest.find("#")) if i != -1]
    at = rest.rfind("@", 0, min(ends) if ends else len(rest))
    if at == -1:
        return url
    user, colon, _password = rest[:at].partition(":")
    if not colon or "/" in user:
        return url
    return f"{scheme}://{user}:***{rest[at:]}"


def circuit_breaker(
    name: Optional[str] = None,
    *,
    failure_threshold: Optional[int] = None,
    recovery_timeout: Union[float, timedelta, None] = None,
    success_threshold: Optional[int] = None,
    half_open_max_calls: Optional[int] = None,
    exclude: Optional[Tuple[type, ...]] = None,
    store: Optional[str] = None,
    fallback: Optional[Callable[..., Any]] = None,
) -> Callable[[F], F]:
    """Decorates a function (sync or ``async def``) so its calls go through
    the registry's breaker ``name`` (default: the function's qualified
    name), made with these settings if it does not exist yet.

    ``fallback(*args, **kwargs)`` answers this function's calls while the
    breaker refuses them."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if fallback is not None and not callable(fallback):
        raise TypeError(f"fallback must be callable, not {type(fallback).__name__}")
    asked: Dict[str, Any] = {
        key: value
        for key, value in (
            ("failure_threshold", failure_threshold),
            ("recovery_timeout", recovery_timeout),
            ("success_threshold", success_threshold),
            ("half_open_max_calls", half_open_max_calls),
            ("exclude", exclude),
            ("store", store),
        )
        if value is not None
    }

    def decorate(func: F) -> F:
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        breaker = _registered(name if name is not None else func.__qualname__, asked)
        return guard(breaker, func, fallback)

    return decorate
