"""pytest plugin that runs prometheus_client's own test suite against obsagent.

Loaded with ``-p obsagent_suite`` by ``make test-client-suite`` (never by the project's own test
run, which uses the real prometheus_client as a peer). It does three things:

- **Imports**: ``prometheus_client`` and every ``prometheus_client.x`` resolve to ``obsagent``
  and ``obsagent.x`` (the very module objects, so ``mock.patch`` of a name reaches obsagent's
  code). A name or submodule obsagent lacks resolves to a placeholder that raises
  ``NotInObsagent`` when used, so it fails only the tests that use it, not the whole file.
- **Expected failures**: ``expected_failures.txt`` (next to this file) lists the tests known to
  fail, one ``test id | reason`` a line. Those run as strict xfails: a listed test that passes
  fails the run, as does a failing test that is not listed, so the list stays exact. With
  ``OBSAGENT_SUITE_WRITE_LIST=1`` the run rewrites the list from what failed (keeping the
  reasons already written) instead.
- **The figure**: passed / total at the end of the output.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ALIAS = "prometheus_client"
TARGET = "obsagent"
#: Another list for another suite (the repository's tests/openmetrics, say) with OBSAGENT_SUITE_LIST.
LIST = Path(os.environ.get("OBSAGENT_SUITE_LIST") or Path(__file__).with_name("expected_failures.txt"))
WRITE_LIST = bool(os.environ.get("OBSAGENT_SUITE_WRITE_LIST"))


class NotInObsagent(Exception):
    """Raised when a test uses a prometheus_client name obsagent does not have."""


def _missing(qualname: str) -> Any:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise NotInObsagent(f"obsagent has no {qualname}")

    class _MissingBase:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            fail()

    class Missing:
        """Stands for ``qualname``: any use but subclassing (deferred to instantiation) raises."""

        __call__ = fail
        __iter__ = fail
        __getitem__ = fail
        __enter__ = fail

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            fail()

        def __mro_entries__(self, bases: tuple) -> tuple:
            return (_MissingBase,)

        def __repr__(self) -> str:
            return f"<missing {qualname}>"

    return Missing()


def _install_getattr(module: types.ModuleType, alias: str, is_package: bool) -> None:
    """Gives ``module`` a module-level ``__getattr__``: a submodule not imported yet is imported,
    any other missing name is a placeholder."""
    if "__getattr__" in vars(module):
        return

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if is_package:
            try:
                return importlib.import_module(f"{module.__name__}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{module.__name__}.{name}":
                    raise
        return _missing(f"{alias}.{name}")

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target
        self.original_spec: Any = None

    def create_module(self, spec: Any) -> types.ModuleType:
        try:
            module = importlib.import_module(self.target)
        except ModuleNotFoundError as error:
            if error.name is None or not (self.target + ".").startswith(error.name + "."):
                raise  # not the module itself (or a parent) missing, but something it imports
            module = types.ModuleType(spec.name, f"stands for {spec.name}, which obsagent lacks")
            module.__path__ = []  # so that its own submodules resolve (to placeholders) too
            _install_getattr(module, spec.name, is_package=False)
            return module
        self.original_spec = module.__spec__
        _install_getattr(module, spec.name, is_package=hasattr(module, "__path__"))
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        if self.original_spec is not None:  # the import machinery set the alias' spec on it
            module.__spec__ = self.original_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(TARGET + fullname[len(ALIAS) :]))


def _install_finder() -> None:
    for name in [name for name in sys.modules if name == ALIAS or name.startswith(ALIAS + ".")]:
        del sys.modules[name]
    sys.meta_path.insert(0, _AliasFinder())


_install_finder()


def read_list(path: Path = LIST) -> dict[str, str]:
    """test id -> reason, from the expected-failures file."""
    listed: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test_id, _, reason = line.partition(" | ")
        listed[test_id.strip()] = reason.strip()
    return listed


_listed: dict[str, str] = {}
_failed: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    _listed.update(read_list() if LIST.exists() else {})


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    collected = {item.nodeid for item in items}
    files = {nodeid.partition("::")[0] for nodeid in collected}
    unknown = sorted(test_id for test_id in _listed if test_id.partition("::")[0] in files and test_id not in collected)
    selected = any("::" in arg for arg in config.args) or config.option.keyword or config.option.markexpr
    if unknown and not WRITE_LIST and not selected:
        raise pytest.UsageError(f"{LIST.name} lists tests the suite does not have: {unknown}")
    if WRITE_LIST:
        return
    for item in items:
        if item.nodeid in _listed:
            item.add_marker(pytest.mark.xfail(reason=_listed[item.nodeid], strict=True))


def _reason(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    return " ".join(message.split())[:160]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _failed.setdefault(report.nodeid, _reason(report))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not WRITE_LIST:
        return
    lines = [
        "# prometheus_client 0.26.0's tests that fail on obsagent: `test id | reason`, one a line.",
        "# `make test-client-suite` fails when a test not listed fails or a listed one passes.",
    ]
    for test_id in sorted(_failed):
        lines.append(f"{test_id} | {_listed.get(test_id) or _failed[test_id]}")
    LIST.write_text("\n".join(lines) + "\n")
    session.exitstatus = 0


def pytest_terminal_summary(terminalreporter: Any) -> None:
    stats = terminalreporter.stats
    passed = len([r for r in stats.get("passed", []) if r.when == "call"])
    xfailed = len(stats.get("xfailed", []))
    failed = len({r.nodeid for r in stats.get("failed", []) + stats.get("error", [])})
    skipped = len(stats.get("skipped", []))
    total = passed + xfailed + failed + skipped
    terminalreporter.write_line(
        f"prometheus_client 0.26.0's suite on obsagent: {passed} passed of {total} "
        f"({xfailed} expected failures, {failed} unexpected, {skipped} skipped)",
        bold=True,
    )
