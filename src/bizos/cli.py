"""The ``bizos`` command line: serve, worker, mcp, migrate, demo, tenant, user, import."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from bizos.core.config import Settings, get_settings
from bizos.core.context import Context
from bizos.core.db import Database

if TYPE_CHECKING:
    from bizos.modules.crm.imports.schemas import ImportRead

app = typer.Typer(help="bizos: the operating system for small businesses.", no_args_is_help=True)
tenant_app = typer.Typer(help="Manage tenants.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
console = Console()
T = TypeVar("T")


@app.callback()
def _startup() -> None:
    # The master key exists from the first run on (generated once, mode 0600), so every
    # process of this installation derives the same signing and encryption keys.
    get_settings().resolved_secret_key()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from bizos.migrate import migrate_sync

    settings = get_settings()
    migrate_sync(settings.resolved_database_url())
    console.print(
        f"[green]database up to date[/green] ({_safe_url(settings.resolved_database_url())})"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="API only; run `bizos worker` elsewhere.")
    ] = False,
    auto_migrate: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Migrate the schema before serving.")
    ] = True,
    processes: Annotated[
        int,
        typer.Option(
            min=1, help="API processes sharing the port (with --no-workers; run `bizos worker`)."
        ),
    ] = 1,
) -> None:
    """Serve the API (and, unless --no-workers, the background workers) in one process."""
    import uvicorn

    from bizos.app import create_app
    from bizos.core.observability import configure_logging

    settings = get_settings()
    configure_logging(settings)
    _announce_platform_mail(settings)
    if auto_migrate:
        migrate()
    console.print(f"bizos listening on [bold]http://{host}:{port}[/bold]  (docs: /docs)")
    _print_demo_login(settings)
    if processes > 1:
        if not no_workers:
            raise typer.BadParameter(
                "--processes > 1 serves the API only: add --no-workers and run `bizos worker`"
            )
        uvicorn.run(
            "bizos.app:api_only_app",
            factory=True,
            workers=processes,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )
        return
    application = create_app(settings, workers=not no_workers)
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@app.command()
def worker() -> None:
    """Run the background workers (dispatcher, webhook delivery, workflows, scheduled jobs)
    without HTTP."""
    from bizos.core.auth import set_authenticator
    from bizos.core.db import init_database
    from bizos.core.observability import (
        configure_logging,
        configure_tracing,
        instrument_database,
    )
    from bizos.modules.identity.service import DatabaseAuthenticator
    from bizos.runtime import Runtime

    settings = get_settings()
    configure_logging(settings)
    configure_tracing(settings)
    _announce_platform_mail(settings)

    async def main() -> None:
        db = init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
        instrument_database(db)
        set_authenticator(DatabaseAuthenticator())
        runtime = Runtime(settings, db, workers=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        console.print("bizos worker running; Ctrl-C to stop")
        try:
            await stop.wait()
        finally:
            await runtime.stop()
            await db.dispose()

    asyncio.run(main())


@app.command("mcp")
def mcp_stdio(
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="BIZOS_API_KEY",
            show_envvar=True,
            help="The API key the agent acts with (prefer the environment variable: "
            "options show in the process list).",
        ),
    ] = None,
) -> None:
    """Serve the copilot's tools to an MCP client over stdio, with one API key's scopes."""
    from bizos.core.auth import set_authenticator
    from bizos.core.errors import Unauthenticated
    from bizos.core.observability import configure_logging
    from bizos.modules.copilot.mcp import serve_stdio
    from bizos.modules.identity.service import DatabaseAuthenticator
    from bizos.registry import install_ports, tools

    errors = Console(stderr=True)  # stdout is the protocol's channel
    if not api_key:
        errors.print("[red]error:[/red] set BIZOS_API_KEY (or --api-key) to an API key")
        raise typer.Exit(2)
    settings = get_settings()
    configure_logging(settings)
    install_ports()
    set_authenticator(DatabaseAuthenticator())

    async def main() -> None:
        db = _db()
        try:
            await serve_stdio(tools(), api_key)
        finally:
            await db.dispose()

    try:
        asyncio.run(main())
    except Unauthenticated as exc:
        errors.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc


@app.command("smtp-receiver")
def smtp_receiver(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 2525,
    domain: Annotated[
        list[str] | None,
        typer.Option(help="Accept <workspace-slug>@DOMAIN (repeatable); support+<slug>@ always."),
    ] = None,
) -> None:
    """Receive support email over SMTP and store it for the workers to file as tickets."""
    from bizos.core.observability import configure_logging
    from bizos.modules.support.inbound.smtp import start_smtp_receiver

    settings = get_settings()
    configure_logging(settings)

    async def main() -> None:
        db = _db()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = await start_smtp_receiver(host=host, port=port, domains=domain or ())
        console.print(f"bizos SMTP receiver on [bold]{host}:{port}[/bold]; Ctrl-C to stop")
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()
            await db.dispose()

    asyncio.run(main())


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Print the login even if the demo exists.")] = True,
) -> None:
    """Create the demo tenant with realistic data (once) and print its login and the
    signing secrets of its webhooks (set if absent)."""
    from bizos.demo import seed_demo
    from bizos.demo.webhooks import ensure_demo_webhook_secrets

    settings = get_settings()
    migrate()
    created = asyncio.run(seed_demo(settings))
    state = "created" if created else "already present"
    console.print(f"demo tenant {state}")
    console.print(
        f"  login: [bold]{settings.demo_email}[/bold]  password: [bold]{settings.demo_password}"
        "[/bold]  tenant: [bold]demo[/bold]"
    )
    doors = asyncio.run(ensure_demo_webhook_secrets(settings))
    console.print("  webhook signing secrets (change with PUT /api/v1/connectors/<provider>):")
    for door in doors:
        # Never wrapped: a secret broken over two lines cannot be copied.
        console.print(
            f"    {door.provider}: {door.secret}  (POST {door.path}, {door.header})",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


@app.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-wrap every stored secret under the current key-encryption key (BIZOS_KEK_ID).

    Set the new id in BIZOS_KEK_ID and the old one in BIZOS_KEK_PREVIOUS_IDS, run this,
    then drop the old id once it reports nothing left to move.
    """
    from bizos.connectors.service import rotate_connector_secrets
    from bizos.modules.webhooks.service import rotate_endpoint_secrets

    async def main() -> tuple[int, int]:
        db = _db()
        try:
            async with db.unit_of_work(system=True) as session:
                connectors = await rotate_connector_secrets(session, _cli_ctx())
                endpoints = await rotate_endpoint_secrets(session)
                return connectors, endpoints
        finally:
            await db.dispose()

    connectors, endpoints = _run_or_exit(main())
    console.print(
        f"re-wrapped {connectors} connector secret(s) and {endpoints} webhook signing "
        f"secret(s) under key {get_settings().kek_id}"
    )


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Company name.")],
    owner_email: Annotated[str, typer.Option("--owner-email", help="Owner's email.")],
    owner_password: Annotated[str, typer.Option("--owner-password", prompt=True, hide_input=True)],
    owner_name: Annotated[str, typer.Option("--owner-name")] = "Owner",
    slug: Annotated[str | None, typer.Option(help="URL slug (default from name).")] = None,
) -> None:
    """Create a tenant and its owner."""
    from bizos.modules.identity import service

    async def main() -> tuple[str, str]:
        db = _db()
        try:
            async with db.unit_of_work(system=True) as session:
                tenant, _ = await service.create_tenant_with_owner(
                    session,
                    _cli_ctx(),
                    company_name=name,
                    email=owner_email,
                    name=owner_name,
                    password=owner_password,
                    slug=slug,
                )
                return tenant.id, tenant.slug
        finally:
            await db.dispose()

    tenant_id, tenant_slug = _run_or_exit(main())
    console.print(f"tenant [bold]{tenant_slug}[/bold] created (id {tenant_id})")


@user_app.command("create")
def user_create(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")],
    email: Annotated[str, typer.Option("--email")],
    password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True)],
    name: Annotated[str, typer.Option("--name")] = "User",
    role: Annotated[str, typer.Option("--role", help="owner, admin, member or viewer")] = "member",
) -> None:
    """Add a user to a tenant."""
    from bizos.core.auth import ROLES
    from bizos.modules.identity import service

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")

    async def main() -> str:
        db = _db()
        try:
            async with db.unit_of_work(system=True) as session:
                tenant_id = await service.tenant_id_by_slug(session, slug=tenant)
                if tenant_id is None:
                    raise typer.BadParameter(f"no tenant with slug {tenant!r}")
                user = await service.create_user(
                    session,
                    _cli_ctx().with_tenant(tenant_id),
                    tenant_id=tenant_id,
                    email=email,
                    name=name,
                    role=role,
                    password=password,
                )
                return user.id
        finally:
            await db.dispose()

    user_id = _run_or_exit(main())
    console.print(f"user [bold]{email}[/bold] ({role}) created (id {user_id})")


@app.command("import")
def import_csv(
    kind: Annotated[str, typer.Argument(help="What the rows are: contacts or leads.")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")
    ],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")],
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help='Column to field, e.g. --map "E-mail=email" --map "Notes=" (repeatable); '
            "other columns are mapped by their common names.",
        ),
    ] = None,
    on_duplicate: Annotated[
        str, typer.Option("--on-duplicate", help="skip, update or merge.")
    ] = "skip",
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Rows per transaction.")] = 1000,
) -> None:
    """Import contacts or leads from a CSV file, in this process, with a progress bar."""
    request = _CsvImport(kind, file, tenant, _column_mapping(maps), on_duplicate, batch_size)
    result, error_lines = _run_or_exit(_import_csv(request))
    _report_import(result, error_lines)


@dataclass(frozen=True)
class _CsvImport:
    kind: str
    file: Path
    tenant: str
    mapping: dict[str, str]
    on_duplicate: str
    batch_size: int


def _column_mapping(maps: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in maps or []:
        column, sep, target = entry.partition("=")
        if not sep or not column.strip():
            raise typer.BadParameter(f"--map takes COLUMN=FIELD, not {entry!r}")
        mapping[column.strip()] = target.strip()
    return mapping


async def _import_csv(request: _CsvImport) -> tuple[ImportRead, list[str]]:
    """Create the import, run it here with a progress bar, and read its first errors."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from bizos.core.pagination import PageParams
    from bizos.modules.crm.imports import service as imports
    from bizos.modules.identity import service as identity

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
        TextColumn("{task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        console=console,
    )
    db = _db()
    try:
        async with db.unit_of_work(system=True) as session:
            tenant_id = (await identity.get_tenant_by_slug(session, slug=request.tenant)).id
        ctx = _cli_ctx().with_tenant(tenant_id)
        async with db.unit_of_work(tenant_id=tenant_id) as session:
            with request.file.open("rb") as upload:
                job = await imports.create_import(
                    session,
                    ctx,
                    upload=upload,
                    filename=request.file.name,
                    kind=request.kind,
                    mapping=request.mapping or None,
                    on_duplicate=request.on_duplicate,
                    runner="cli",
                )
        console.print(
            f"import [bold]{job.id}[/bold]: {job.total_rows:,} rows, columns mapped "
            + ", ".join(f"{c} -> {f}" for c, f in job.mapping.items())
        )
        if job.ignored_columns:
            console.print(f"  ignored columns: {', '.join(job.ignored_columns)}")
        started = time.monotonic()
        with progress:
            task: TaskID = progress.add_task(request.kind, total=job.total_rows or 0, rate=0.0)

            def advance(state: ImportRead) -> None:
                elapsed = max(time.monotonic() - started, 1e-6)
                progress.update(
                    task, completed=state.processed_rows, rate=state.processed_rows / elapsed
                )

            result = await imports.run_import_in_process(
                db, ctx, job.id, batch_size=request.batch_size, on_batch=advance
            )
        async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
            page = PageParams(limit=10)
            errors, _ = await imports.list_row_errors(session, ctx, job.id, page=page)
        lines = [
            f"  row {e.row_number}: "
            + "; ".join(f"{p.column or p.field or 'row'}: {p.msg}" for p in e.errors)
            for e in errors
        ]
        return result, lines
    finally:
        await db.dispose()


def _report_import(result: ImportRead, error_lines: list[str]) -> None:
    counts = result.counts
    console.print(
        f"[bold]{result.status}[/bold]: {result.processed_rows:,} rows — "
        f"created {counts.created:,}, updated {counts.updated:,}, merged {counts.merged:,},"
        f" unchanged {counts.unchanged:,}, skipped {counts.skipped:,}, errors {counts.errors:,}"
    )
    if error_lines:
        console.print("rows with errors (first 10; all at GET /api/v1/crm/imports/{id}/errors):")
        for line in error_lines:
            console.print(line, markup=False, highlight=False)
    if result.status != "completed":
        console.print(f"[red]import failed:[/red] {result.error}")
        raise typer.Exit(1)


def _announce_platform_mail(settings: Settings) -> None:
    """Log where account emails go (a warning when they stay in workspace sandboxes);
    refuse to start with a platform mail setting that cannot be used."""
    from bizos.connectors.platform import PlatformMailMisconfigured, announce

    try:
        announce(settings)
    except PlatformMailMisconfigured as exc:
        console.print(exc.detail, style="red", markup=False)
        raise typer.Exit(2) from exc


def _print_demo_login(settings: Settings) -> None:
    """Remind whoever starts the server how to log in to the demo tenant, if it exists."""
    from bizos.demo import demo_exists

    if asyncio.run(demo_exists(settings)):
        console.print(
            f"demo login: [bold]{settings.demo_email}[/bold]  password: "
            f"[bold]{settings.demo_password}[/bold]  tenant: [bold]demo[/bold]"
        )


def _run_or_exit(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a business error is printed, not shown as a traceback."""
    from bizos.core.errors import ProblemError

    try:
        return asyncio.run(coro)
    except ProblemError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        for err in exc.errors or []:
            console.print(f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
        raise typer.Exit(1) from exc


def _db() -> Database:
    from bizos.core.db import init_database

    settings = get_settings()
    return init_database(settings.resolved_database_url(), app_role=settings.db_app_role)


def _cli_ctx() -> Context:
    return Context(actor_type="system", actor_id="cli")


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
