"""Plugin loading: one place, lazily, once, and one broken plugin never takes the host down.

Each entry point in the ``rnnzoo`` group is loaded on its own through
pluggy's ``PluginManager.load_setuptools_entrypoints(group, name=...)`` so an
import error in one distribution is recorded against it and the others still
load. Hooks are then called plugin by plugin with a ``register`` callable
bound to that plugin, which is how a duplicate name can name both
distributions.

Environment:
  ``RNNZOO_DISABLE_PLUGINS``  comma-separated entry-point or distribution
                              names to skip; ``third-party`` skips every
                              plugin not shipped by rnnzoo itself.
  ``RNNZOO_STRICT_PLUGINS``   ``1`` turns any plugin problem into an error
                              (for CI).
"""

from __future__ import annotations

import importlib.metadata as md
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from rnnzoo.core import hookspecs
from rnnzoo.core.specs import DatasetSpec, ModelSpec, RuntimeSpec
from rnnzoo.errors import DuplicateNameError, PluginError

GROUP = "rnnzoo"
HOST_DIST = "rnnzoo"
DISABLE_ENV = "RNNZOO_DISABLE_PLUGINS"
STRICT_ENV = "RNNZOO_STRICT_PLUGINS"


@dataclass
class PluginRecord:
    """What one plugin is and did: shown by ``rnnzoo plugins``."""

    name: str
    distribution: str
    version: str
    status: str = "ok"  # ok | error | disabled
    in_process: bool = False  # added with register_plugin(), not an installed distribution
    errors: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    runtimes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Catalog:
    """The loaded registry: specs by name, who registered them, and what went wrong."""

    models: dict[str, ModelSpec] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    runtimes: dict[str, RuntimeSpec] = field(default_factory=dict)
    owners: dict[tuple[str, str], PluginRecord] = field(default_factory=dict)
    duplicates: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    records: list[PluginRecord] = field(default_factory=list)

    def raise_if_duplicate(self, kind: str, name: str) -> None:
        if (kind, name) in self.duplicates:
            raise DuplicateNameError(self.duplicates[(kind, name)][0])

    def owner(self, kind: str, name: str) -> PluginRecord | None:
        return self.owners.get((kind, name))

    def table(self, kind: str) -> dict[str, Any]:
        """The specs of one kind ("model", "dataset" or "runtime") by name."""
        tables: dict[str, dict[str, Any]] = {"model": self.models, "dataset": self.datasets, "runtime": self.runtimes}
        return tables[kind]


_lock = threading.Lock()
_catalog: Catalog | None = None
_extra_plugins: list[tuple[object, str, str]] = []


def catalog() -> Catalog:
    """The registry, built on first use and cached."""
    global _catalog
    with _lock:
        if _catalog is None:
            _catalog = _build(strict=os.environ.get(STRICT_ENV, "") in {"1", "true", "yes"})
        return _catalog


def reload(strict: bool | None = None) -> Catalog:
    """Forget the cached registry and load every plugin again (tests, strict CI runs)."""
    global _catalog
    with _lock:
        if strict is None:
            strict = os.environ.get(STRICT_ENV, "") in {"1", "true", "yes"}
        _catalog = _build(strict=strict)
        return _catalog


def register_plugin(plugin: object, name: str, distribution: str = "<in-process>") -> None:
    """Add an in-process plugin object (tests, notebooks) and reload the registry."""
    _extra_plugins.append((plugin, name, distribution))
    reload()


def unregister_plugin(name: str) -> None:
    """Remove a plugin added with :func:`register_plugin` and reload the registry."""
    _extra_plugins[:] = [p for p in _extra_plugins if p[1] != name]
    reload()


def list_plugins() -> list[dict[str, Any]]:
    """Every plugin seen: distribution, version, status, errors and what it registered."""
    return [r.as_dict() for r in catalog().records]


def _disabled() -> set[str]:
    return {s.strip() for s in os.environ.get(DISABLE_ENV, "").split(",") if s.strip()}


def _is_disabled(ep_name: str, dist: str, disabled: set[str]) -> bool:
    third_party_off = "third-party" in disabled and dist != HOST_DIST
    return third_party_off or ep_name in disabled or dist in disabled


def _entry_points() -> Iterable[tuple[md.EntryPoint, md.Distribution]]:
    seen: set[tuple[str, str]] = set()
    for dist in md.distributions():
        for ep in dist.entry_points:
            key = (dist.metadata["Name"] or "?", ep.name)
            if ep.group == GROUP and key not in seen:
                seen.add(key)
                yield ep, dist


def _load_entry_points(pm: pluggy.PluginManager, disabled: set[str]) -> list[PluginRecord]:
    records = []
    for ep, dist in sorted(_entry_points(), key=lambda e: (e[1].metadata["Name"] != HOST_DIST, e[0].name)):
        rec = PluginRecord(ep.name, dist.metadata["Name"] or "?", dist.version or "?")
        records.append(rec)
        if _is_disabled(ep.name, rec.distribution, disabled):
            rec.status = "disabled"
            continue
        if pm.has_plugin(ep.name):
            rec.status = "error"
            rec.errors.append(
                f"entry point name {ep.name!r} is already used by another distribution; "
                f"rename the entry point in {rec.distribution}'s pyproject.toml"
            )
            continue
        try:
            pm.load_setuptools_entrypoints(GROUP, name=ep.name)
        except (Exception, SystemExit) as exc:  # a plugin's import may raise anything, sys.exit() included
            rec.status = "error"
            rec.errors.append(
                f"could not load entry point {ep.value!r}: {type(exc).__name__}: {exc}. "
                f"Fix or uninstall {rec.distribution}, or set {DISABLE_ENV}={ep.name}"
            )
    return records


def _call_hook(
    pm: pluggy.PluginManager, hook: str, rec: PluginRecord, sink: Callable[[Any], None]
) -> None:
    """pluggy calls ``hook`` for this one plugin, so one that raises is isolated and named.

    ``subset_hook_caller`` keeps pluggy's own calling (the plugin's
    wrappers, ``tryfirst``/``trylast`` among its implementations); calling
    per plugin is what lets ``register`` know whose spec it receives.
    """
    others = [p for p in pm.get_plugins() if p is not pm.get_plugin(rec.name)]
    try:
        pm.subset_hook_caller(hook, remove_plugins=others)(register=sink)
    except (Exception, SystemExit) as exc:  # a plugin's hook may raise anything, sys.exit() included
        rec.status = "error"
        rec.errors.append(f"{hook} raised {type(exc).__name__}: {exc}")


def _build(strict: bool) -> Catalog:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    cat = Catalog()
    cat.records = _load_entry_points(pm, _disabled())
    for plugin, name, dist in _extra_plugins:
        rec = PluginRecord(name, dist, "-", in_process=True)
        cat.records.append(rec)
        try:
            pm.register(plugin, name=name)
        except Exception as exc:
            rec.status = "error"
            rec.errors.append(f"could not register: {type(exc).__name__}: {exc}")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        _fail(cat, getattr(exc, "plugin", None), pm, f"unknown hook: {exc}")
    for rec in cat.records:
        if pm.get_plugin(rec.name) is not None and rec.status == "ok":
            _collect(pm, cat, rec)
    _report(cat, strict)
    return cat


def _fail(cat: Catalog, plugin: object, pm: pluggy.PluginManager, msg: str) -> None:
    name = pm.get_name(plugin) if plugin is not None else None
    for rec in cat.records:
        if rec.name == name:
            rec.status = "error"
            rec.errors.append(msg)


def _collect(pm: pluggy.PluginManager, cat: Catalog, rec: PluginRecord) -> None:
    staged: list[tuple[str, Any]] = []

    def sink_for(kind: str, cls: type) -> Callable[[Any], None]:
        def register(spec: Any) -> None:
            if not isinstance(spec, cls):
                raise PluginError(f"register() expects rnnzoo.{cls.__name__}, got {type(spec).__name__}")
            staged.append((kind, spec))

        return register

    _call_hook(pm, "rnnzoo_register_models", rec, sink_for("model", ModelSpec))
    _call_hook(pm, "rnnzoo_register_datasets", rec, sink_for("dataset", DatasetSpec))
    _call_hook(pm, "rnnzoo_register_runtimes", rec, sink_for("runtime", RuntimeSpec))
    if rec.status == "error":
        return  # all or nothing per plugin: never half a plugin
    for kind, spec in staged:
        _add(cat, rec, kind, spec)


def _add(cat: Catalog, rec: PluginRecord, kind: str, spec: Any) -> None:
    table = cat.table(kind)
    key = (kind, spec.name)
    first = cat.owners.get(key)
    if first is not None or key in cat.duplicates:
        other = f"{first.distribution} (plugin {first.name})" if first else "another plugin"
        msg = (
            f"{kind} name {spec.name!r} is registered by both {other} "
            f"and {rec.distribution} (plugin {rec.name}); uninstall one, or disable one with "
            f"{DISABLE_ENV}=<plugin name>"
        )
        cat.duplicates.setdefault(key, []).append(msg)
        table.pop(spec.name, None)
        for r in (first, rec):
            if r is not None:
                r.status = "error"
                r.errors.append(msg)
        return
    table[spec.name] = spec
    cat.owners[key] = rec
    {"model": rec.models, "dataset": rec.datasets, "runtime": rec.runtimes}[kind].append(spec.name)


def _report(cat: Catalog, strict: bool) -> None:
    problems = [f"{r.distribution} ({r.name}): {e}" for r in cat.records for e in r.errors]
    if not problems:
        return
    if strict:
        raise PluginError("plugin problems (strict mode):\n  " + "\n  ".join(problems))
    import warnings

    for p in problems:
        warnings.warn(f"rnnzoo plugin skipped: {p}", RuntimeWarning, stacklevel=3)
