"""The application factory: ``create_app(config, kg=...)`` builds the whole endpoint.

The app holds ONE knowledge graph (``kg``): passed in (tests, embedding), or opened from the
config (``STORE`` directory, ``REMOTE`` URL, else a temporary on-disk store). Blueprints reach it through
:mod:`provml.endpoint.context`. ``/health`` answers process managers cheaply.

>>> app = create_app({"TOKEN": "s3cret"})
>>> app.test_client().get("/health").get_json()["ok"]
True
>>> app.extensions["provml.close"]()  # (the temporary store deleted)
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request

from provml import __version__
from provml.endpoint import auth, context
from provml.endpoint.config import CONFIG_KEY, Config
from provml.endpoint.errors import register_error_handlers
from provml.endpoint.forms import BoundedRequest
from provml.endpoint.sparql.evaluation import QueryRunner
from provml.endpoint.sparql.isolation import QueryProcesses
from provml.knowledge import KnowledgeGraph

__all__ = ["create_app"]

log = logging.getLogger("provml.endpoint")

#: the Content-Security-Policy of every HTML answer: scripts, styles sheets, images and
#: fetches from this server only (inline styles allowed: the vendored UI sets them), no
#: plugins, no <base>, no framing by other sites, forms posted here only
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
               "frame-ancestors 'self'; form-action 'self'")


def _open_kg(config: Config) -> tuple[KnowledgeGraph, str | None]:
    """The knowledge graph the config names, and the temporary directory to delete at close.

    Neither ``STORE`` nor ``REMOTE``: a temporary on-disk store (deleted at close), not an
    in-memory one — over an on-disk store every query runs in a worker process, killed at the
    time limit and capped in memory; over an in-memory store it would run in the server
    process, with no memory cap."""
    import tempfile

    from provml.knowledge import open_kg

    scratch = None
    path = config.store
    if path is None and config.remote is None:
        scratch = tempfile.mkdtemp(prefix="provml-endpoint-")
        path = f"{scratch}/store"
    try:
        kg = open_kg(path, remote=config.remote, base=config.instance_base, load_ontologies=False)
        if kg.load_ontologies():
            _compact(kg)
        return kg, scratch
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise


#: an on-disk store up to this size is compacted at start when the server wrote its ontologies
#: into it (≈ 7 million quads, ≈ 15–20 s here); a larger one is served as it is, with a hint
AUTO_COMPACT_BYTES = 1 << 30


def _compact(kg: KnowledgeGraph) -> None:
    """Compact an on-disk store the server has just written the ontologies into, before it
    serves: left in the write-ahead log (replayed into every query worker's view) or flushed
    as one small file per index over the store's others, those 1,190 quads made every read
    consult one more place — measured on a 223,294-quad store, Q3 1.09× as slow from the log
    and 1.32× once flushed, 0.99× once compacted (docs/benchmarks.md, "Seventh session").
    Compaction rewrites the whole store, ≈ 2.5 µs a stored quad (the ontologies' keys fall
    everywhere in every index), once: a store that holds its ontologies is not written at
    start. Over :data:`AUTO_COMPACT_BYTES` the server does not wait for it: it logs how to do it
    (``provml compact``, with the server stopped)."""
    from provml.store.oxigraph import OxigraphStore

    store = kg.store
    if not isinstance(store, OxigraphStore) or store.path is None or store.read_only:
        return
    size = store.size_on_disk()
    if size > AUTO_COMPACT_BYTES:
        log.warning("wrote the ontologies into a store of %.1f GB: reads are slower until it is "
                    "compacted; stop the server and run `provml compact --store %s` (≈ 2.5 µs a "
                    "quad)", size / 1e9, store.path)
        return
    started = time.monotonic()
    try:
        store.optimize()
    except OSError as error:  # (a full disk): the data is written; only reads are slower
        log.warning("could not compact the store after writing its ontologies (%s); serving "
                    "it as it is", error)
        return
    log.info("compacted the store after writing its ontologies (%.1f s)", time.monotonic() - started)


def _query_processes(config: Config, kg: KnowledgeGraph) -> QueryProcesses | None:
    """The worker processes: over an on-disk store they evaluate every query (unless
    QUERY_ISOLATION is "thread"); over an in-memory store they probe long queries. A remote
    store has its own limits: none."""
    from provml.store.oxigraph import OxigraphStore

    store = kg.store
    if not isinstance(store, OxigraphStore):
        if config.query_isolation == "process":
            raise ValueError("QUERY_ISOLATION 'process' needs an on-disk store (STORE)")
        return None
    on_disk = store.path is not None and not store.read_only
    if store.path is None:
        log.warning("serving an in-memory store: its queries run in the server process, "
                    "not memory-capped; give an on-disk store to serve untrusted clients")
    if config.query_isolation == "process" and not on_disk:
        raise ValueError("QUERY_ISOLATION 'process' needs an on-disk store (STORE)")
    isolate = on_disk and config.query_isolation != "thread"
    processes = QueryProcesses(str(store.path) if isolate else None,
                               workers=config.query_workers, memory_mb=config.query_memory_mb,
                               offline=not config.allow_remote)
    if isolate:
        processes.start()  # ready before the first query
    return processes


def _refusals(app: Flask) -> None:
    """The runner's and the input checks' refusals, the same on every route."""
    from provml.endpoint.errors import error_response
    from provml.endpoint.limits import InputRefused
    from provml.endpoint.sparql.outcomes import (
        QueryCrashed,
        QueryFailed,
        QueryRejected,
        QueryTimeout,
    )

    def refused(error: InputRefused) -> Response:
        return error_response(400, str(error))

    def timeout(error: QueryTimeout) -> Response:
        limit = app.extensions[CONFIG_KEY].timeout_s
        return error_response(503, f"the query ran past the time limit ({limit:g} s) and was "
                                   "stopped; narrow it or add a LIMIT",
                              headers={"Retry-After": "1"})

    def rejected(error: QueryRejected) -> Response:
        return error_response(503, "the server is busy with other queries; retry in a moment",
                              headers={"Retry-After": "2"})

    def crashed(error: QueryCrashed) -> Response:
        return error_response(400, str(error))

    def failed(error: QueryFailed) -> Response:
        return error_response(503, f"the query could not be evaluated: {error}; retry later",
                              headers={"Retry-After": "2"})

    def buffer(error: MemoryError) -> Response:
        if "buffer maximal size" not in str(error):  # the server's own memory: its fault
            log.error("out of memory on %s %s", request.method, request.path, exc_info=error)
            return error_response(500, "internal error; the server log has the details")
        # pyoxigraph's parsers buffer a term up to 16 MiB: a page, an answer read back for
        # one, a body, a value too long for them (a 13 MB literal made every page of its
        # resource a 500; memory probe, 18th session)
        return error_response(400, f"a value is longer than this endpoint's RDF parsers take "
                                   f"({error}); read it with a query to /sparql, or send "
                                   "shorter values")

    app.register_error_handler(InputRefused, refused)
    app.register_error_handler(MemoryError, buffer)
    app.register_error_handler(QueryTimeout, timeout)
    app.register_error_handler(QueryRejected, rejected)
    app.register_error_handler(QueryCrashed, crashed)
    app.register_error_handler(QueryFailed, failed)


def create_app(config: Mapping[str, Any] | None = None, *, kg: KnowledgeGraph | None = None) -> Flask:
    """Build the endpoint.

    :param config: upper-case keys (``STORE``, ``REMOTE``, ``BASE_URL``, ``INSTANCE_BASE``,
        ``TOKEN``, ``READ_TOKEN``, ``READ_ONLY``, ``CORS_ORIGINS``, ``TIMEOUT_S``, ``MAX_ROWS``,
        ``MAX_BODY_MB``, ``QUERY_ISOLATION``, ``RESULT_CACHE_MB``; see :mod:`provml.endpoint.config`); other keys
        go to ``app.config``.
    :param kg: the ``KnowledgeGraph`` to serve; opened from ``config`` when None (and then
        closed by ``app.extensions["provml.close"]()``; without ``STORE`` or ``REMOTE``, a
        temporary on-disk store, deleted then). An in-memory ``kg`` is served with its queries
        in this process, not memory-capped (a warning is logged).
    :raises ValueError: an invalid config value.
    :raises StoreLocked: the ``STORE`` directory is held by another process.
    """
    settings = Config.from_mapping(config)
    app = Flask("provml.endpoint")
    app.request_class = BoundedRequest
    app.config.update({k: v for k, v in (config or {}).items() if k.isupper()})
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    owned = kg is None
    scratch = None
    if kg is None:
        kg, scratch = _open_kg(settings)

    def close_kg() -> None:
        if owned:
            kg.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    try:
        processes = _query_processes(settings, kg)
    except BaseException:
        close_kg()
        raise
    from provml.endpoint.sparql.flushing import LogFlusher, view_lock
    from provml.store.oxigraph import OxigraphStore

    # worker processes reopen views of an on-disk store after writes: its log is kept short,
    # flushed while no view opens
    flushed = None
    if processes is not None and processes.path is not None and isinstance(kg.store,
                                                                            OxigraphStore):
        views_of, primary = processes.path, kg.store

        def flush() -> None:
            with view_lock(views_of, exclusive=True):
                primary.flush()

        flushed = LogFlusher(flush).written
    answer_mb = settings.max_answer_mb
    runner = QueryRunner(timeout_s=settings.timeout_s, max_rows=settings.max_rows,
                         max_answer_bytes=int(answer_mb * 1024 * 1024) if answer_mb else None,
                         processes=processes, flushed=flushed,
                         # a remote store's own HTTP client runs on those threads
                         offline=isinstance(kg.store, OxigraphStore) and not settings.allow_remote)
    app.extensions[CONFIG_KEY] = settings
    app.extensions[context.KG_KEY] = kg
    app.extensions[context.RUNNER_KEY] = runner

    def close() -> None:
        runner.close()
        close_kg()

    app.extensions["provml.close"] = close

    auth.install(app, settings)
    register_error_handlers(app)
    _refusals(app)

    from provml.endpoint.fast_reads import RAISE_KEY, FastReads

    @app.before_request
    def refused_on_the_fast_path() -> None:
        error = request.environ.pop(RAISE_KEY, None)
        if error is not None:  # the lean path's refusal: answered by the handlers below
            raise error

    @app.before_request
    def one_range_or_none() -> None:
        if "," in request.environ.get("HTTP_RANGE", ""):
            # several ranges: Werkzeug serves one range only and answered 416 to satisfiable
            # ones (a hostile probe, 20th session); a server may ignore Range: the whole 200
            del request.environ["HTTP_RANGE"]

    if settings.fast_reads:
        from provml.endpoint.sparql.cache import ResultCache

        # answers are kept only over a store that counts its writes (``generation``: also
        # those of the owner of a knowledge graph passed in, unseen by the endpoint); a remote
        # store is written by others, unseen: its answers are never kept
        counted = getattr(kg.store, "generation", None) is not None
        cache = (ResultCache(int(settings.result_cache_mb * 1024 * 1024))
                 if counted and settings.result_cache_mb and settings.remote is None else None)
        app.wsgi_app = FastReads(  # type: ignore[method-assign]
            app.wsgi_app, settings, runner, lambda: kg.store, cache)

    @app.teardown_request
    def written(error: BaseException | None) -> None:
        if g.get("provml_write"):  # set by check_write: worker processes reopen their view
            runner.changed(written=request.content_length or 0)

    from provml.endpoint.sparql.graph_store import bp as graph_store_bp
    from provml.endpoint.sparql.protocol import bp as sparql_bp

    app.register_blueprint(sparql_bp)
    app.register_blueprint(graph_store_bp)

    # --- other blueprints register here (events API, named queries, ontology, linked data,
    # --- VoID, UI): one `app.register_blueprint(...)` line each, imported inside this function.
    from provml.endpoint.api.events import bp as events_bp
    from provml.endpoint.api.queries import bp as queries_bp
    from provml.endpoint.linked_data.ontology_pages import bp as ontology_bp
    from provml.endpoint.linked_data.resources import bp as resources_bp

    app.register_blueprint(events_bp)
    app.register_blueprint(queries_bp)
    app.register_blueprint(ontology_bp)
    app.register_blueprint(resources_bp)
    from provml.endpoint.ui.views import bp as ui_bp

    app.register_blueprint(ui_bp)
    # --- end of other blueprints

    @app.after_request
    def page_policy(response: Response) -> Response:
        # pages run only the scripts this server sends (a link to a `javascript:` IRI of the
        # data, or an injected script, does not run), are framed by no other site, and no
        # answer is sniffed into HTML
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        return response

    @app.after_request
    def access_log(response: Response) -> Response:
        # method, path (no query string, no headers: tokens never reach the log), status
        log.info("%s %s %s", request.method, request.path, response.status_code)
        return response

    @app.get("/health")
    def health() -> Response:
        kind = type(context.store()).__name__  # no count: len() is O(n) on Oxigraph
        body: dict[str, Any] = {"ok": True, "store": kind, "version": __version__}
        writer = app.extensions.get("provml.broker")
        if writer is not None:  # provml serve --broker: the ingest lag
            body["ingest"] = writer.lag()
        return jsonify(body)

    return app
