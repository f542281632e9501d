"""Shared fixtures: a fresh database per test (SQLite file or PostgreSQL clone), the app,
an HTTP client, and factories for tenants and users.

Set ``BIZOS_TEST_DATABASE_URL=postgresql+asyncpg://...`` to run the suite on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TMP = Path(tempfile.mkdtemp(prefix="bizos-tests-"))
os.environ.setdefault("BIZOS_SECRET_KEY", "test-secret-key-not-for-production")
os.environ["BIZOS_DATA_DIR"] = str(_TMP)
os.environ.setdefault("BIZOS_LOG_JSON", "false")
os.environ.setdefault("BIZOS_WORKFLOWS_ENABLED", "false")
# The fake vendor servers (LLM, Clearbit, Shippo, Twilio, SMTP) listen on 127.0.0.1; the
# default (refused) is proven in tests/connectors/test_connector_targets.py.
os.environ.setdefault("BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS", "true")

import httpx  # noqa: E402
import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

from bizos.app import create_app  # noqa: E402
from bizos.core.config import Settings, get_settings  # noqa: E402
from bizos.core.context import Context  # noqa: E402
from bizos.core.db import Database, get_database, set_database  # noqa: E402
from bizos.migrate import migrate_sync  # noqa: E402
from bizos.modules.identity.service import create_tenant_with_owner  # noqa: E402
from bizos.modules.identity.sessions import open_session  # noqa: E402
from bizos.registry import install_ports  # noqa: E402
from tests.fakes.llm_servers import fake_anthropic, fake_openai  # noqa: E402, F401
from tests.fakes.privacy_guard import privacy_guard, privacy_guard_checked  # noqa: E402, F401

# Property tests: no per-example deadline (a loaded machine is not a failure); in CI the
# examples are derived from each test's name, so a run is repeatable (new edge cases are
# found by running locally, where examples are random).
hypothesis_settings.register_profile("default", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True)
hypothesis_settings.load_profile(os.environ.get("BIZOS_HYPOTHESIS_PROFILE", "default"))

PG_URL = os.environ.get("BIZOS_TEST_DATABASE_URL", "")
if os.environ.get("BIZOS_REQUIRE_SERVICES") and not os.environ.get("BIZOS_TEST_REDIS_URL"):
    # CI must run the Redis-backed suites, not skip them.
    raise RuntimeError("BIZOS_REQUIRE_SERVICES is set but BIZOS_TEST_REDIS_URL is not")
IS_PG = PG_URL.startswith("postgresql")


def _pg_admin_url(dbname: str) -> str:
    return (
        sa.engine.make_url(PG_URL)
        .set(drivername="postgresql+psycopg", database=dbname)
        .render_as_string(hide_password=False)
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Everything the run made is left to the operating system at exit: the
    interpreter's last full collection over a whole suite's heap (thousands of apps and
    engines, their finalizers resurrecting objects) took minutes after the results were
    in. Freezing the heap skips that pass; nothing is written by it."""
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def manifests_installed() -> None:
    """The ports filled from the manifests, as ``bizos serve`` fills them, for tests that
    call services without building the app."""
    install_ports()


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """Migrate once into a template; each test gets a copy of it."""
    if IS_PG:
        name = f"bizos_tpl_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(_pg_admin_url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        migrate_sync(url)
        yield name
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    else:
        path = _TMP / "template.db"
        migrate_sync(f"sqlite+aiosqlite:///{path}")
        yield str(path)


@pytest.fixture(scope="session")
def demo_template(template_database: str) -> Iterator[str]:
    """The demo tenant seeded once, into a copy of the template: seeding takes tens of
    seconds, so tests marked ``demo`` each start from a copy of this instead."""
    from bizos.demo import seed_demo

    if IS_PG:
        name = f"bizos_demo_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(_pg_admin_url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        source = name
    else:
        path = _TMP / "demo.db"
        shutil.copy(template_database, path)
        url, source = f"sqlite+aiosqlite:///{path}", str(path)
    get_settings.cache_clear()
    seeded = get_settings().model_copy(update={"database_url": url})

    async def seed() -> None:
        database = Database(seeded.resolved_database_url(), app_role=seeded.db_app_role)
        set_database(database)
        try:
            assert await seed_demo(seeded, database)
        finally:
            set_database(None)
            await database.dispose()

    asyncio.run(seed())
    yield source
    if IS_PG:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, template_database: str, tmp_path: Path
) -> Iterator[str]:
    if request.node.get_closest_marker("demo"):
        template_database = request.getfixturevalue("demo_template")
    if IS_PG:
        name = f"bizos_t_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(_pg_admin_url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    else:
        path = tmp_path / "bizos.db"
        shutil.copy(template_database, path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    get_settings.cache_clear()
    base = get_settings()
    return base.model_copy(update={"database_url": database_url})


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.resolved_database_url(), app_role=settings.db_app_role)
    set_database(database)
    yield database
    set_database(None)
    await database.dispose()


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[Any]:
    application = create_app(settings, database=db, workers=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class TenantLogin:
    """A signed-up tenant and its owner, as a test sees them through the API."""

    tenant_id: str
    slug: str
    user_id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def signup(client: httpx.AsyncClient, company: str = "Acme Ltd") -> TenantLogin:
    """A workspace and its owner, logged in. Made the way ``bizos tenant create`` makes
    one, so the owner's address counts as verified and the message log starts empty;
    self-service ``POST /auth/signup`` leaves the owner unverified until the emailed link
    is followed, and the tests of that flow call it directly."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery"
    ctx = Context(actor_type="system", ip="127.0.0.1")
    async with get_database().unit_of_work(system=True) as session:
        session.info["ctx"] = ctx  # audited like the signup request it stands for
        tenant, user = await create_tenant_with_owner(
            session, ctx, company_name=company, email=email, name="Olive", password=password
        )
        pair, _ = await open_session(session, ctx.with_tenant(tenant.id), user=user)
    return TenantLogin(
        tenant_id=tenant.id,
        slug=tenant.slug,
        user_id=user.id,
        email=email,
        password=password,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
    )


@pytest.fixture
async def tenant(client: httpx.AsyncClient) -> TenantLogin:
    return await signup(client, "Acme Ltd")


@pytest.fixture
async def other_tenant(client: httpx.AsyncClient) -> TenantLogin:
    return await signup(client, "Globex Corp")


@pytest.fixture
def use_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Switch the key-encryption keys the way an operator does: by environment."""

    def use(current: str, *previous: str) -> None:
        monkeypatch.setenv("BIZOS_KEK_ID", current)
        monkeypatch.setenv(
            "BIZOS_KEK_PREVIOUS_IDS", "[" + ",".join(f'"{p}"' for p in previous) + "]"
        )
        get_settings.cache_clear()

    yield use
    monkeypatch.undo()
    get_settings.cache_clear()
