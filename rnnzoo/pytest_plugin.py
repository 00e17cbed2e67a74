"""pytest plugin (entry point ``pytest11``): ``pytest --rnnzoo-models 'acme_*'`` runs the conformance kit.

Why a plugin: without it every plugin repository repeats the same test file
around :func:`rnnzoo.testing.parametrize_with_checks`. Installing rnnzoo is
enough; one test item per (model, check) is added, and a check the model's
spec lists in ``expected_failures`` is an xfail with the spec's reason.

Off unless asked for (the option, or ``rnnzoo_models`` in the ini file):
pytest imports this module in every environment that has rnnzoo installed,
so it imports nothing heavy (torch, the registry) until the kit is wanted,
and adds no item otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

_OPTION, _INI = "--rnnzoo-models", "rnnzoo_models"
_CHECKS_OPTION, _CHECKS_INI = "--rnnzoo-checks", "rnnzoo_checks"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnzoo", "rnnzoo conformance kit")
    group.addoption(_OPTION, action="append", metavar="PATTERN", default=None,
                    help="run rnnzoo's conformance kit on the registered models matching PATTERN "
                         "(shell wildcards; repeat or separate with commas)")
    group.addoption(_CHECKS_OPTION, metavar="CHECK[,CHECK]", default=None,
                    help="only these checks of the kit (default: all; names as in rnnzoo.testing.CHECKS)")
    parser.addini(_INI, type="args", default=[],
                  help="model patterns for rnnzoo's conformance kit (as --rnnzoo-models)")
    parser.addini(_CHECKS_INI, type="args", default=[], help="checks of the kit to run (as --rnnzoo-checks)")


def _split(values: list[str] | None) -> list[str]:
    return [p.strip() for v in values or [] for p in v.split(",") if p.strip()]


def _patterns(config: pytest.Config) -> list[str]:
    return _split(config.getoption(_OPTION)) or _split(config.getini(_INI))


def _checks(config: pytest.Config) -> list[str]:
    from rnnzoo.testing import CHECKS

    chosen = _split([config.getoption(_CHECKS_OPTION) or ""]) or _split(config.getini(_CHECKS_INI))
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        raise pytest.UsageError(f"rnnzoo: unknown check(s) {unknown}; choose from {sorted(CHECKS)}")
    return chosen or list(CHECKS)


def _models(patterns: list[str]) -> list[str]:
    from rnnzoo.core.registry import list_models

    names: list[str] = []
    for pattern in patterns:
        matched = list_models(pattern)
        if not matched:
            raise pytest.UsageError(
                f"rnnzoo: no registered model matches {pattern!r} (from {_OPTION} or the ini's {_INI}); "
                f"registered: {', '.join(list_models()) or 'none'}. Is the plugin installed (pip install -e .)?")
        names += [n for n in matched if n not in names]
    return names


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so those select among the kit's items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    patterns = _patterns(config)
    if not patterns:
        return
    collector = ConformanceKit.from_parent(session, name="rnnzoo-conformance", nodeid="rnnzoo-conformance")
    collector.models, collector.checks = _models(patterns), _checks(config)
    items.extend(collector.collect())


class ConformanceKit(pytest.Collector):
    """The kit's items, grouped under one node (``rnnzoo-conformance::<check>[<model>]``)."""

    models: list[str]
    checks: list[str]

    def collect(self) -> Iterator[pytest.Item]:
        from rnnzoo.core.registry import get_spec

        for model in self.models:
            expected = get_spec(model).expected_failures
            for check in self.checks:
                item = KitCheck.from_parent(self, name=f"{check}[{model}]", model=model, check=check)
                if check in expected:
                    item.add_marker(pytest.mark.xfail(reason=expected[check], strict=False))
                yield item


class KitCheck(pytest.Item):
    """One check of :mod:`rnnzoo.testing` on one model."""

    def __init__(self, *, model: str, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model, self.check = model, check
        self.keywords.update({model: True, check: True})

    def runtest(self) -> None:
        from rnnzoo.testing import CHECKS

        CHECKS[self.check](self.model)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"rnnzoo conformance: {self.check} on {self.model}"
