"""The validating admission webhook: an HTTPS server on its own thread and event loop.

kopf's loop is busy with reconciles and API calls; admission latency must not queue behind
them, so the webhook has a thread, an event loop and keep-alive OPA connections of its own. It
reads the policy index (written by the kopf handlers) without locking, evaluates every matching
policy concurrently and answers in the AdmissionReview v1 shape. A request no active policy
matches is answered at once, without calling OPA.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

from aiohttp import web

from operators.policy import decision, metrics
from operators.policy.certs import ServingCert
from operators.policy.index import ActivePolicy, PolicyIndex, Target
from operators.policy.opa import OpaClient, OpaError

log = logging.getLogger("kommerce.operator.policy.webhook")
WEBHOOKS = ("kommerce", "workloads")  # /validate/<name>, see webhookconfig.py
OPA_TIMEOUT = 2.0  # below the webhook's timeoutSeconds (3), so we answer before the API server


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop (installed with uvicorn[standard]) when available: less overhead per request."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class WebhookServer:
    def __init__(
        self,
        *,
        index: PolicyIndex,
        opa_url: str | None,
        host: str,
        port: int,
        cert: ServingCert,
        synced: threading.Event | None = None,
    ) -> None:
        self.index = index
        self.host, self.port = host, port
        self._opa_url = opa_url
        self._cert = cert
        # Set once the index holds every existing Policy (see watcher.py); until then requests
        # fail with 503 and the API server applies the failurePolicy.
        self._synced = synced
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._opa: OpaClient | None = None

    # --- lifecycle (called from any thread) ---------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="policy-webhook", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"the policy webhook did not start within {timeout:.0f}s")
        if self._error is not None:
            raise RuntimeError(f"the policy webhook did not start: {self._error}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        self._loop = _new_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); the thread ends
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        if self._opa_url:
            self._opa = OpaClient(self._opa_url, timeout=OPA_TIMEOUT, connections=128)
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/validate/{webhook}", self._validate)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(
            runner, self.host, self.port, ssl_context=self._cert.ssl_context(), backlog=256
        )
        await site.start()
        log.info("policy webhook listening", extra={"host": self.host, "port": self.port})
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
            if self._opa is not None:
                await self._opa.close()

    # --- requests -----------------------------------------------------------------------------

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self._synced is None or self._synced.is_set():
            return web.Response(text="ok")
        return web.Response(status=503, text="policies not loaded yet")

    async def _evaluate(self, policy: ActivePolicy, request: dict[str, object]) -> decision.Outcome:
        if self._opa is None:
            return decision.Outcome(policy, error="the operator has no OPA (KOMMERCE_OPA_URL)")
        try:
            found = await self._opa.violations_raw(
                policy.package, decision.review_input(request, policy.parameters_json)
            )
        except OpaError as exc:
            return decision.Outcome(policy, error=str(exc))
        return decision.Outcome(policy, messages=tuple(found))

    async def _validate(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        hook = request.match_info["webhook"]
        if hook not in WEBHOOKS:
            return web.Response(status=404, text=f"no webhook {hook!r}")
        try:
            review = json.loads(await request.read())
            req = review["request"]
            uid = str(req["uid"])
        except (ValueError, KeyError, TypeError):
            metrics.ADMISSION_REQUESTS.labels(hook, "error").inc()
            return web.Response(status=400, text="expected an AdmissionReview v1")
        if self._synced is not None and not self._synced.is_set():
            metrics.ADMISSION_REQUESTS.labels(hook, "error").inc()
            return web.Response(status=503, text="the operator is still loading policies")
        policies = [] if decision.exempt(req) else self.index.matching(Target.of_request(req))
        if not policies:
            result = decision.Decision(allowed=True)
        else:
            if len(policies) == 1:  # the common case: no task to schedule
                outcomes = [await self._evaluate(policies[0], req)]
            else:
                outcomes = list(await asyncio.gather(*(self._evaluate(p, req) for p in policies)))
            result = decision.decide(outcomes)
            self._record(req, result)
        metrics.ADMISSION_REQUESTS.labels(hook, result.label).inc()
        metrics.ADMISSION_SECONDS.labels(hook).observe(time.perf_counter() - started)
        if result.error is not None:
            # Not an answer: the API server applies the webhook's failurePolicy.
            return web.Response(status=500, text=f"policy evaluation failed: {result.error}")
        return web.json_response(decision.review_response(uid, result))

    def _record(self, req: dict[str, object], result: decision.Decision) -> None:
        try:
            for name, count in result.violations.items():
                policy = self.index.get(name)
                if policy is not None:
                    metrics.ADMISSION_VIOLATIONS.labels(name, policy.action.value).inc(count)
            if result.dryrun or result.error or not result.allowed:
                kind = req.get("kind")
                log.info(
                    "admission decision",
                    extra={
                        "decision": result.label,
                        "operation": req.get("operation"),
                        "kind": kind.get("kind") if isinstance(kind, dict) else None,
                        "namespace": req.get("namespace"),
                        "object_name": req.get("name"),
                        "denied": result.message or None,
                        "dryrun": list(result.dryrun) or None,
                        "error": result.error,
                    },
                )
        except Exception:  # bookkeeping must never change a decision
            log.exception("cannot record an admission decision")
