"""The `assetflow` console script."""

import argparse
import asyncio
import datetime as dt
import gc
import logging
import os
import shlex
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import aclosing, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import uvloop
from cryptography.fernet import Fernet
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from services.api.importing import FileProblem, ImportFile
from services.api.schemas.export import ExportQuery
from services.api.server import bind_api, serve_api
from services.worker.main import bind_metrics, run_worker
from shared.asset_columns import ExportFormat
from shared.db import ensure_database, pool_for
from shared.domain.models import AssetKind, AssetStatus, Caller, Scope
from shared.domain.queries import AssetFilter
from shared.errors import DomainError
from shared.listening import CannotListen
from shared.logs import configure_logging
from shared.migrate import migrate_database
from shared.secret_box import SecretBox, SecretKeyMissing
from shared.services import export, organisations, webhooks
from shared.services.coverage_notices import sweep
from shared.services.imports import ImportOptions, ImportRow, MatchBy, OnConflict, import_assets
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings, checked_budget, get_settings
from shared.tail import tail_events

logger = logging.getLogger(__name__)

DEMO_ORG = "Demo"


async def _migrate(settings: Settings) -> None:
    await ensure_database(settings.database_url.get_secret_value())
    applied = await migrate_database(settings.database_url.get_secret_value())
    logger.info("migrations applied" if applied else "schema up to date", extra={"applied": applied})


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


# The collector's first threshold: allocations (less deallocations) between two collections of the
# youngest generation; Python's default is 700.
GC_THRESHOLD = 20_000


def _tune_garbage_collector() -> None:
    """Collect less often in a service process. Each event and each imported row allocates a few
    hundred objects, so with Python's defaults the cyclic collector ran every few events and
    walked the older generations often: draining a backlog, the worker spent about a fifth of its
    CPU there (900-1,100 -> 720-930 us per asset, measured alternately). What was made at
    start-up (modules, settings, pools) is frozen out of every collection."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


async def _run_until_signal(*runners: Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    settings = get_settings()
    _tune_garbage_collector()
    stop = _stop_on_signals()
    tasks = [asyncio.create_task(run(settings, stop)) for run in runners]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()  # one failed (or a signal came): the others finish cleanly before the error is raised
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _token_command(org_name: str) -> str:
    """The command, as `make dev` users can run it from the project's folder, that mints a token."""
    return (
        f"uv run assetflow token create --org {shlex.quote(org_name)} "
        "--scope assets:read --scope assets:write --scope webhooks:read --scope webhooks:write"
    )


def _mint_hint(org_name: str) -> str:
    """A token is shown only once, on the first start: how to mint another."""
    made = "exists already" if org_name == DEMO_ORG else "exists, so no demo organisation was made"
    return f"\nOrganisation {org_name!r} {made}. Mint a token for it with:\n\n  {_token_command(org_name)}\n"


async def _demo_organisation(settings: Settings) -> None:
    """On the very first start, make an organisation and print a token to try the API with."""
    async with pool_for(settings.database_url.get_secret_value(), min_size=1, max_size=1) as pool:
        existing = await organisations.existing_organisation(unit_of_work(pool), DEMO_ORG)
        if existing is not None:
            print(_mint_hint(existing.name), flush=True)
            return
        await organisations.create_organisation(unit_of_work(pool), DEMO_ORG, "LPC")
        _, token = await organisations.create_token(
            unit_of_work(pool), DEMO_ORG, [scope.value for scope in Scope], name="demo"
        )
    base = f"http://{settings.api_host}:{settings.api_port}"
    print(
        f"\nCreated organisation {DEMO_ORG!r}. Its token (shown once):\n\n  {token}\n\nTry:\n\n"
        f"  curl -X POST {base}/v1/assets -H 'Authorization: Bearer {token}' "
        f"-H 'Content-Type: application/json' -d '{{\"name\": \"MacBook Pro 14\"}}'\n"
        f"  curl {base}/v1/assets -H 'Authorization: Bearer {token}'\n"
        f"  open {base}/docs\n",
        flush=True,
    )


def _dev_secret_key_file() -> Path:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "assetflow" / "webhook-secret-key"


def _dev_secret_key(settings: Settings) -> Settings:
    """`assetflow dev` without WEBHOOK_SECRET_KEY: the key kept in the user's config folder, made
    on the first start, so that webhooks work at once and their secrets outlive a restart."""
    if settings.webhook_secret_key is not None:
        return settings
    path = _dev_secret_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(Fernet.generate_key() + b"\n")
        print(f"Made a key for webhook secrets, kept in {path} (set WEBHOOK_SECRET_KEY to use another).")
    else:
        print(f"Webhook secrets are encrypted with the key in {path} (WEBHOOK_SECRET_KEY).")
    os.environ["WEBHOOK_SECRET_KEY"] = path.read_text().strip()
    get_settings.cache_clear()
    return get_settings()


async def cmd_dev(args: argparse.Namespace) -> None:
    settings = get_settings()
    # Both ports are bound first: one that is taken fails here, before anything is made or printed.
    with bind_api(settings) as api, bind_metrics(settings) as metrics:
        settings = _dev_secret_key(settings)
        await _migrate(settings)
        await _demo_organisation(settings)
        await _run_until_signal(partial(serve_api, listener=api), partial(run_worker, listener=metrics))


async def cmd_migrate(args: argparse.Namespace) -> None:
    await _migrate(get_settings())


async def cmd_api(args: argparse.Namespace) -> None:
    await _run_until_signal(serve_api)


async def cmd_worker(args: argparse.Namespace) -> None:
    await _run_until_signal(run_worker)


async def cmd_org_create(args: argparse.Namespace) -> None:
    async with pool_for(get_settings().database_url.get_secret_value(), min_size=1, max_size=1) as pool:
        org = await organisations.create_organisation(unit_of_work(pool), args.name, args.prefix)
    print(f"organisation {org.name} created (prefix {org.prefix})", file=sys.stderr)


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no file {value!r}")
    return path


def _budget(value: str) -> str:
    try:
        return checked_budget(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _expiry(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


async def cmd_token_create(args: argparse.Namespace) -> None:
    async with pool_for(get_settings().database_url.get_secret_value(), min_size=1, max_size=1) as pool:
        _, token = await organisations.create_token(
            unit_of_work(pool),
            args.org,
            args.scope,
            args.name,
            args.expires,
            rate_limit_read=args.rate_limit_read,
            rate_limit_write=args.rate_limit_write,
        )
    print(token)


async def cmd_token_revoke(args: argparse.Namespace) -> None:
    async with pool_for(get_settings().database_url.get_secret_value(), min_size=1, max_size=1) as pool:
        revoked = await organisations.revoke_token(unit_of_work(pool), args.token)
    if not revoked:
        raise DomainError("no live token matches; give a token id or the token itself")
    print("token revoked", file=sys.stderr)


async def cmd_token_list(args: argparse.Namespace) -> None:
    async with pool_for(get_settings().database_url.get_secret_value(), min_size=1, max_size=1) as pool:
        tokens = await organisations.list_tokens(unit_of_work(pool), args.org)
    for t in tokens:
        state = "revoked" if t.revoked_at else "live"
        budgets = f"read={t.rate_limit_read or 'default'}\twrite={t.rate_limit_write or 'default'}"
        print(
            f"{t.id}\t{t.name}\t{','.join(t.scopes)}\t{state}\texpires={t.expires_at or 'never'}\t{budgets}"
        )


async def cmd_webhooks_rotate_key(args: argparse.Namespace) -> None:
    settings = get_settings()
    box = SecretBox.of(settings.webhook_secret_key)
    if box is None:
        raise SecretKeyMissing()
    async with pool_for(settings.database_url.get_secret_value(), min_size=1, max_size=1) as pool:
        count = await webhooks.reseal_secrets(unit_of_work(pool), box)
    print(
        f"{count} webhook secrets are now encrypted with the first key of WEBHOOK_SECRET_KEY", file=sys.stderr
    )


async def cmd_sweep(args: argparse.Namespace) -> None:
    settings = get_settings()
    async with pool_for(settings.database_url.get_secret_value(), min_size=1, max_size=2) as pool:
        count = await sweep(unit_of_work(pool), dt.date.today(), settings.expiry_warning_days)
    print(f"lifecycle recomputed for {count} assets", file=sys.stderr)


async def cmd_events_tail(args: argparse.Namespace) -> None:
    settings = get_settings()
    stop = _stop_on_signals()
    await tail_events(settings, args.type or [], stop, lambda line: print(line, flush=True))


async def cmd_import(args: argparse.Namespace) -> None:
    path: Path = args.file
    kind = "ndjson" if path.suffix.lower() in (".ndjson", ".jsonl") else "csv"
    options = ImportOptions(args.dry_run, OnConflict(args.on_conflict), MatchBy(args.match))
    settings = get_settings()
    with _ImportProgress() as progress:
        async with pool_for(settings.database_url.get_secret_value(), min_size=1, max_size=2) as pool:
            uow = unit_of_work(pool)
            org = await organisations.find_organisation(uow, args.org)
            caller = Caller(
                org_id=org.id,
                token_id=COMMAND_LINE_ACTOR,
                token_name="assetflow import (command line)",
                request_id=f"import-{uuid.uuid4().hex}",
            )
            try:
                report = await import_assets(uow, caller, progress.rows(ImportFile(path, kind)), options)
            except FileProblem as exc:
                raise DomainError(exc.message) from exc
    done = "checked (dry run)" if args.dry_run else "imported" if report.written else "rejected"
    print(
        f"{done}: {report.rows} rows: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped} skipped, {report.error_count} bad",
        file=sys.stderr,
    )
    for error in report.errors:
        print(f"row {error.row}: {error.field}: {error.message}", file=sys.stderr)
    if report.error_count:
        raise DomainError(f"{report.error_count} bad rows; nothing was written")


# The actor of the events of an import from the command line, which has no token.
COMMAND_LINE_ACTOR = uuid.UUID(int=0)


def _rows_bar(terminal: bool) -> Progress:
    """A bar on stderr of rows done (rows/s and time left), drawn only on a terminal. It leaves
    stdout alone, which may be carrying an export's bytes."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not terminal,
        redirect_stdout=False,
    )


class _ImportProgress:
    """Rows read, a bar on a terminal (rows/s and time left) and a line every 10,000 rows
    otherwise, for each of an import's two readings: checking, then writing."""

    EVERY = 10_000

    def __init__(self) -> None:
        self.terminal = sys.stderr.isatty()
        self.bar = _rows_bar(self.terminal)
        self.total: int | None = None
        self.readings = 0

    def __enter__(self) -> "_ImportProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def rows(self, file: ImportFile) -> Callable[[], AsyncIterator[list[ImportRow]]]:
        async def counted() -> AsyncIterator[list[ImportRow]]:
            self.readings += 1
            what = "checking" if self.readings == 1 else "writing"
            task = self.bar.add_task(what, total=self.total, rate="")
            seen, started, said = 0, time.monotonic(), 0
            async for chunk in file.chunks():
                yield chunk
                seen += len(chunk)
                rate = f"{seen / max(time.monotonic() - started, 1e-6):,.0f} rows/s"
                self.bar.update(task, completed=seen, rate=rate)
                if not self.terminal and seen - said >= self.EVERY:
                    said = seen
                    print(f"{what}: {seen} rows ({rate})", file=sys.stderr, flush=True)
            self.total = seen
            self.bar.update(task, total=seen, completed=seen)

        return counted


async def cmd_export(args: argparse.Namespace) -> None:
    flt = AssetFilter(
        q=args.q,
        status=AssetStatus(args.status) if args.status else None,
        asset_type_id=args.asset_type_id,
        kind=AssetKind(args.kind) if args.kind else None,
    )
    fmt = ExportFormat(args.format)
    output: Path | None = args.output
    where = str(output) if output else "stdout"
    # A bar would be torn up by the file's own bytes on the same terminal.
    terminal = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
    settings = get_settings()
    async with pool_for(settings.database_url.get_secret_value(), min_size=1, max_size=2) as pool:
        uow = unit_of_work(pool)
        org = await organisations.find_organisation(uow, args.org)
        total, estimated = await export.export_total(uow, org.id, flt)
        exported = await export.export_assets(uow, org.id, flt, fmt)
        with _export_file(output) as out, _ExportProgress(total, estimated, terminal) as progress:
            try:
                async with aclosing(exported.chunks) as chunks:
                    async for chunk in chunks:
                        _write(out, chunk, where)
                        progress.update(exported.tally.rows)
            except Exception as exc:
                after = f"(after {exported.tally.rows:,} rows); "
                after += f"{output} was not written" if output else "what stdout got is incomplete"
                if isinstance(exc, DomainError):  # the file or the pipe, which it names
                    raise DomainError(f"{exc} {after}") from None
                print(f"assetflow: the export broke off {after}", file=sys.stderr)
                raise
    print(
        f"exported: {exported.tally.rows:,} rows of {org.name} as {fmt.value} to {where} "
        f"in {progress.elapsed():.1f} s ({progress.rate(exported.tally.rows)})",
        file=sys.stderr,
    )


@contextmanager
def _export_file(output: Path | None) -> Iterator[BinaryIO]:
    """Where an export's bytes go: stdout, or a file beside `output` that takes its name only once
    every byte is in it, so that an export that fails never leaves half a file under the name."""
    if output is None:
        yield sys.stdout.buffer
        return
    part = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        out = part.open("xb")
    except OSError as exc:
        raise DomainError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        part.replace(output)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _write(out: BinaryIO, chunk: bytes, where: str) -> None:
    try:
        out.write(chunk)
        out.flush()
    except BrokenPipeError:
        # The reader went (`| head`): what is left in stdout's buffer goes nowhere at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise DomainError("stdout was closed") from None
    except OSError as exc:
        raise DomainError(f"cannot write {where}: {exc.strerror}") from None


class _ExportProgress:
    """Rows written of the matching assets counted beforehand: a bar on a terminal (rows/s and
    time left), otherwise a line every 10,000 rows."""

    EVERY = 10_000

    def __init__(self, total: int, estimated: bool, terminal: bool) -> None:
        self.terminal = terminal
        self.bar = _rows_bar(terminal)
        self.total = total
        self.task = self.bar.add_task("exporting", total=total, rate="")
        self.of = f"{'about ' if estimated else ''}{total:,}"
        self.started = time.monotonic()
        self.said = 0

    def __enter__(self) -> "_ExportProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self, rows: int) -> str:
        return f"{rows / max(self.elapsed(), 1e-6):,.0f} rows/s"

    def update(self, rows: int) -> None:
        rate = self.rate(rows)
        # The count came before the snapshot, so it may be a few short: the bar ends where the rows do.
        self.total = max(self.total, rows)
        self.bar.update(self.task, completed=rows, total=self.total, rate=rate)
        if not self.terminal and rows - self.said >= self.EVERY:
            self.said = rows
            print(f"exported {rows:,} of {self.of} rows ({rate})", file=sys.stderr, flush=True)


def _output_file(value: str) -> Path:
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a folder; name the file to write")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {str(path.parent)!r} to write {path.name!r} in")
    return path


def _export_parameter(name: str) -> Callable[[str], Any]:
    """An option read as the same parameter of GET /v1/assets/export, with the same checks."""

    def parse(value: str) -> Any:
        try:
            return getattr(ExportQuery.model_validate({name: value}), name)
        except ValidationError as exc:
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise argparse.ArgumentTypeError(problems) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assetflow", description="IT asset management service.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="migrate, then run api and worker in one terminal").set_defaults(run=cmd_dev)
    sub.add_parser("migrate", help="create the database if missing and apply migrations").set_defaults(
        run=cmd_migrate
    )
    sub.add_parser("api", help="run the HTTP gateway").set_defaults(run=cmd_api)
    sub.add_parser("worker", help="run the event consumers").set_defaults(run=cmd_worker)

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="org_command", required=True)
    create = org.add_parser("create", help="create an organisation (and its company 1)")
    create.add_argument("name")
    create.add_argument("--prefix", help="asset-tag prefix, e.g. LPC (default: from the name)")
    create.set_defaults(run=cmd_org_create)

    hooks = sub.add_parser("webhooks", help="webhooks").add_subparsers(dest="webhooks_command", required=True)
    hooks.add_parser(
        "rotate-key",
        help="encrypt every webhook secret again with the first key of WEBHOOK_SECRET_KEY (comma-separated "
        "keys: put the new one first, run this, then drop the old one)",
    ).set_defaults(run=cmd_webhooks_rotate_key)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    tcreate = token.add_parser("create", help="mint a token; prints it alone on stdout")
    tcreate.add_argument("--org", required=True)
    tcreate.add_argument("--scope", action="append", required=True, choices=[scope.value for scope in Scope])
    tcreate.add_argument("--name", help="a label for the token")
    tcreate.add_argument("--expires", type=_expiry, help="ISO date or time after which it stops working")
    tcreate.add_argument(
        "--rate-limit-read",
        type=_budget,
        metavar="BUDGET",
        help="its own read budget, e.g. 100/minute (default: RATE_LIMIT_READ)",
    )
    tcreate.add_argument(
        "--rate-limit-write",
        type=_budget,
        metavar="BUDGET",
        help="its own write budget, e.g. 10/minute (default: RATE_LIMIT_WRITE)",
    )
    tcreate.set_defaults(run=cmd_token_create)
    trevoke = token.add_parser("revoke", help="revoke a token by its id or by the token itself")
    trevoke.add_argument("token")
    trevoke.set_defaults(run=cmd_token_revoke)
    tlist = token.add_parser("list", help="list an organisation's tokens (never their secrets)")
    tlist.add_argument("--org", required=True)
    tlist.set_defaults(run=cmd_token_list)
    imp = sub.add_parser("import", help="import assets from a CSV or NDJSON file, all or nothing")
    imp.add_argument(
        "file", type=_existing_file, help="a CSV file (or .ndjson / .jsonl), as POST /v1/assets/import takes"
    )
    imp.add_argument("--org", required=True, help="the organisation's name")
    imp.add_argument("--dry-run", action="store_true", help="check every row and write nothing")
    imp.add_argument("--on-conflict", choices=[c.value for c in OnConflict], default=OnConflict.ERROR.value)
    imp.add_argument("--match", choices=[m.value for m in MatchBy], default=MatchBy.ASSET_TAG.value)
    imp.set_defaults(run=cmd_import)
    exp = sub.add_parser(
        "export", help="write an organisation's assets as the CSV or NDJSON file GET /v1/assets/export gives"
    )
    exp.add_argument("--org", required=True, help="the organisation's name")
    exp.add_argument(
        "--format",
        choices=[f.value for f in ExportFormat],
        default=ExportFormat.CSV.value,
        help="(default: csv)",
    )
    exp.add_argument(
        "-o", "--output", type=_output_file, metavar="FILE",
        help="write the file there, under its name only once complete (default: stdout)",
    )  # fmt: skip
    # The list's filters, checked as GET /v1/assets/export checks them.
    exp.add_argument(
        "--q", type=_export_parameter("q"), metavar="TEXT", help="in the name, asset tag or serial number"
    )
    exp.add_argument("--status", choices=[s.value for s in AssetStatus])
    exp.add_argument("--kind", choices=[k.value for k in AssetKind])
    exp.add_argument("--asset-type-id", type=_export_parameter("asset_type_id"), metavar="ID")
    exp.set_defaults(run=cmd_export)

    sub.add_parser("sweep", help="recompute warranty and support status now (also runs daily)").set_defaults(
        run=cmd_sweep
    )
    events = sub.add_parser("events", help="the event stream").add_subparsers(
        dest="events_command", required=True
    )
    tail = events.add_parser("tail", help="print events as they pass, from a queue of its own")
    tail.add_argument("--type", action="append", help="an event type or routing pattern (repeatable)")
    tail.set_defaults(run=cmd_events_tail)
    return parser


def _settings_problems(exc: ValidationError) -> str:
    """One line naming each setting of the environment that is not valid."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(get_settings().log_level)
    except ValidationError as exc:
        print(f"assetflow: a setting is not valid: {_settings_problems(exc)}", file=sys.stderr)
        return 2
    try:
        uvloop.run(args.run(args))
    except DomainError as exc:
        print(f"assetflow: {exc}", file=sys.stderr)
        return 1
    except SecretKeyMissing as exc:
        print(f"assetflow: {exc}", file=sys.stderr)
        return 2
    except CannotListen as exc:
        print(f"assetflow: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
