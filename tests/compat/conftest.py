"""Fixtures: real `composio_client.Composio` clients pointed at a running authlink (see run.sh).

Also the run's rules: a skipped (or xfailed) test fails the run, since every case must run, and be
able to fail, on every client version; and the summary lists what this client version could not
express and the tests sent or read through its transport instead (compat_support.call / field).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from composio_client import Composio

from compat_support import (
    API_KEY,
    BASE_URL,
    CALLBACK_URL,
    INSTALLED_VERSION,
    OTHER_API_KEY,
    TOOLKIT,
    TRANSPORT_USED,
    call,
    new_user_id,
)

# Node ids of tests (or collectors) that did not run: skipped, or xfailed.
_NOT_RUN: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name, value in (("AUTHLINK_BASE_URL", BASE_URL), ("AUTHLINK_API_KEY", API_KEY),
                                        ("AUTHLINK_OTHER_API_KEY", OTHER_API_KEY)) if not value]
    if missing:
        raise pytest.UsageError(f"set {', '.join(missing)} (tests/compat/run.sh does this)")
    wanted = os.environ.get("COMPOSIO_CLIENT_VERSION")
    if wanted and wanted != INSTALLED_VERSION:
        raise pytest.UsageError(
            f"COMPOSIO_CLIENT_VERSION={wanted} but composio-client {INSTALLED_VERSION} is installed")


def pytest_report_header(config: pytest.Config) -> str:
    return f"composio-client {INSTALLED_VERSION} -> {BASE_URL}"


def _note_not_run(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped:
        reason = "xfail" if hasattr(report, "wasxfail") else "skipped"
        _NOT_RUN.setdefault(report.nodeid, reason)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note_not_run(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note_not_run(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a defect: the run fails, whatever the other results."""
    if _NOT_RUN and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TRANSPORT_USED:
        terminalreporter.section(f"composio-client {INSTALLED_VERSION}: reached through its transport")
        for what in sorted(TRANSPORT_USED):
            terminalreporter.line(what)
    if _NOT_RUN:
        terminalreporter.section("tests that did not run", red=True, bold=True)
        for nodeid, reason in sorted(_NOT_RUN.items()):
            terminalreporter.line(f"{reason.upper()} {nodeid}", red=True)
        terminalreporter.line(f"FAILED: {len(_NOT_RUN)} test(s) did not run; no test may be skipped "
                              "(tests/compat/conftest.py)", red=True, bold=True)


def make_client(api_key: str) -> Composio:
    return Composio(base_url=BASE_URL, api_key=api_key, max_retries=0)


@pytest.fixture(scope="session")
def client() -> Composio:
    return make_client(API_KEY)


@pytest.fixture(scope="session")
def other_client() -> Composio:
    """A client of the second project (`compat-other`), for isolation tests."""
    return make_client(OTHER_API_KEY)


@pytest.fixture(scope="session")
def auth_config_raw(client: Composio) -> Any:
    """Creates the project's GitHub OAuth2 auth config once, keeping the raw response for status checks."""
    return client.auth_configs.with_raw_response.create(
        toolkit={"slug": TOOLKIT},
        auth_config={
            "type": "use_custom_auth",
            "auth_scheme": "OAUTH2",  # sent as `authScheme` by the client
            "credentials": {"client_id": "cid", "client_secret": "csecret", "scopes": ["repo"]},
        },
    )


@pytest.fixture(scope="session")
def auth_config_id(auth_config_raw: Any) -> str:
    return auth_config_raw.parse().auth_config.id


@pytest.fixture
def make_session(client: Composio, auth_config_id: str) -> Callable[..., Any]:
    """Creates a session for a fresh (or given) user with GitHub enabled and a default callback."""

    def create(user_id: str | None = None, *, pin_auth_config: bool = True, **overrides: Any) -> Any:
        params: dict[str, Any] = {
            "user_id": user_id or new_user_id(),
            "toolkits": {"enable": [TOOLKIT]},
            "manage_connections": {"enable": True, "callback_url": CALLBACK_URL},
        }
        if pin_auth_config:
            params["auth_configs"] = {TOOLKIT: auth_config_id}
        params.update(overrides)
        return call(client.tool_router.session.create, **params)

    return create


@pytest.fixture
def make_link(client: Composio, make_session: Callable[..., Any]) -> Callable[..., tuple[Any, Any]]:
    """Creates an INITIATED account through a session link; returns (session, link response)."""

    def create(user_id: str | None = None, session: Any = None, **link_params: Any) -> tuple[Any, Any]:
        session = session or make_session(user_id)
        link_params.setdefault("callback_url", CALLBACK_URL)
        link = call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT, **link_params)
        return session, link

    return create

