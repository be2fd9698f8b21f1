"""The kopf adapter — the only module that imports kopf.

kopf runs the operator's life cycle (startup/cleanup, signals, logging) and serves the admission
webhooks; watches, caches and reconciles are ours (kruise_py.runtime; see docs/decisions.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import kopf

from . import __version__
from .api.conversion import convert_review
from .controllers.broadcastjob.reconcile import BroadcastJobController
from .controllers.shards import SHARDED_PLURALS, Shards, label_owner
from .controllers.sidecarset.inject import InjectionError
from .controllers.sidecarset.injector import NotReady, SidecarSetInjector
from .controllers.sidecarset.reconcile import SidecarSetController
from .controllers.statefulset.reconcile import StatefulSetController
from .runtime import malloc
from .runtime.cache import ObjectCache
from .runtime.client import ApiError, ClientOptions, Credentials, KubeClient, load_credentials, path_for
from .runtime.controller import LeaderFlag
from .runtime.leader import LeaseElector, default_identity
from .runtime.manager import Manager, ManagerOptions, Resource
from .runtime.membership import ShardGate, ShardMember
from .webhooks import admission, certs
from .webhooks import config as whconfig
from .webhooks import server as whserver

log = logging.getLogger("kruise_py")
# How often a replica re-reads its webhook certificate Secret (renewal, caBundle drift), and how
# often kopf's server checks the certificate file for a change.
CERT_CHECK_S = 300.0
CERT_FILE_CHECK_S = 10.0


@dataclass
class OperatorConfig:
    kubeconfig: str | None = None
    namespaces: tuple[str, ...] = ()
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080
    log_level: str = "INFO"
    log_format: str = "plain"
    qps: float = 50.0
    burst: int = 100
    workers: int = 4
    webhook_mode: str = "local"  # local | service | none
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 9443
    cert_dir: str | None = None
    operator_namespace: str = "kruise-system"
    webhook_service: str = "kruise-py-webhook"
    sidecarset_revision_namespace: str | None = None  # default: operator_namespace
    feature_gates: dict[str, bool] = field(default_factory=dict)
    # service mode: "secret" = keep the certificate in Secret `webhook_secret` and patch caBundle;
    # "dir" = serve tls.crt/tls.key mounted into cert_dir (cert-manager injects the caBundle).
    webhook_cert_source: str = "secret"
    webhook_secret: str = "kruise-py-webhook-certs"
    webhook_failure_policy: str = "Fail"
    leader_elect: bool = False
    leader_election_namespace: str | None = None
    leader_election_id: str = "kruise-py"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    shards: str = "off"  # off | auto (docs/decisions.md, "Sharding")
    extra: dict[str, Any] = field(default_factory=dict)


def config_from_args(a: argparse.Namespace) -> OperatorConfig:
    return OperatorConfig(
        kubeconfig=a.kubeconfig,
        namespaces=tuple(a.namespaces or ()),
        metrics_host=a.metrics_host,
        metrics_port=a.metrics_port,
        log_level=a.log_level,
        log_format=a.log_format,
        qps=a.qps,
        burst=a.burst,
        workers=a.workers,
        webhook_mode=a.webhook_mode,
        webhook_host=a.webhook_host,
        webhook_port=a.webhook_port,
        cert_dir=a.cert_dir,
        operator_namespace=a.operator_namespace,
        webhook_service=a.webhook_service,
        sidecarset_revision_namespace=a.sidecarset_revision_namespace,
        feature_gates=parse_feature_gates(a.feature_gates),
        webhook_failure_policy=a.webhook_failure_policy,
        webhook_cert_source=a.webhook_cert_source,
        webhook_secret=a.webhook_secret,
        # The singleton work (webhooks, certificates, SidecarSets) needs one elected replica.
        leader_elect=a.leader_elect or a.shards == "auto",
        shards=a.shards,
        leader_election_namespace=a.leader_election_namespace,
        leader_election_id=a.leader_election_id,
        lease_duration=a.lease_duration,
        renew_deadline=a.renew_deadline,
        retry_period=a.retry_period,
    )


# OpenKruise's gates that change behaviour kruise-py implements (default as OpenKruise's).
FEATURE_GATES = {"EnableSortSidecarContainerByName": False}


def parse_feature_gates(text: str) -> dict[str, bool]:
    """``A=true,B=false`` as OpenKruise's --feature-gates; an unknown gate or value is an error."""
    gates = dict(FEATURE_GATES)
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        name, _, value = item.partition("=")
        if name not in FEATURE_GATES or value.lower() not in ("true", "false"):
            raise SystemExit(
                f"--feature-gates: unknown gate or value {item!r} (known: {', '.join(FEATURE_GATES)})"
            )
        gates[name] = value.lower() == "true"
    return gates


def _cert_dir(cfg: OperatorConfig) -> Path:
    if cfg.cert_dir:
        return Path(cfg.cert_dir)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kruise-py" / "webhook-certs"


class Operator:
    """Everything one operator process holds; kopf handlers delegate here."""

    def __init__(self, cfg: OperatorConfig) -> None:
        self.cfg = cfg
        self.creds: Credentials = load_credentials(cfg.kubeconfig)
        # One identity per process, in the Lease and in every request's User-Agent, so the apiserver's
        # audit log tells two replicas apart (the default field manager stays "kruise-py": the prefix).
        self.identity = default_identity()
        self.client = KubeClient(
            self.creds,
            ClientOptions(
                qps=cfg.qps, burst=cfg.burst, user_agent=f"kruise-py/{__version__} ({self.identity})"
            ),
        )
        # Leases on a client of their own: renewals must not wait behind a storm of pod writes for
        # one of the main client's connections (the sharded build of 50,000 pods missed its renew
        # deadline that way). Two connections, no rate limit: a round is one LIST and one PUT.
        self.lease_client = KubeClient(
            self.creds,
            ClientOptions(qps=0, connections=2, user_agent=f"kruise-py/{__version__} ({self.identity})"),
        )
        self.manager = Manager(
            self.client,
            ManagerOptions(
                namespaces=cfg.namespaces,
                metrics_host=cfg.metrics_host,
                metrics_port=cfg.metrics_port,
                sharding=cfg.shards == "auto",
            ),
        )
        self.elector: LeaseElector | None = None
        if cfg.leader_elect:
            self.manager.leader = LeaderFlag()
        # Sharded mode: each replica reconciles the owners of the buckets its membership holds.
        self.shards: Shards | None = None
        owns = None
        if cfg.shards == "auto":
            gate = ShardGate()
            member = ShardMember(
                self.lease_client,
                cfg.leader_election_namespace or cfg.operator_namespace,
                f"{cfg.leader_election_id}-shards",
                identity=self.identity,
                lease_duration=cfg.lease_duration,
                renew_deadline=cfg.renew_deadline,
                retry_period=cfg.retry_period,
            )
            self.shards = Shards(self.manager, member, gate)
            owns = gate.owns
        # The controllers register their watches with the manager; it starts them once caches sync.
        self.statefulsets = StatefulSetController(self.manager, workers=cfg.workers, owns=owns)
        self.broadcastjobs = BroadcastJobController(self.manager, workers=cfg.workers, owns=owns)
        self.injector = SidecarSetInjector(
            self.manager,
            cfg.sidecarset_revision_namespace or cfg.operator_namespace,
            sort_sidecars_by_name=cfg.feature_gates.get("EnableSortSidecarContainerByName", False),
        )
        self.sidecarsets = SidecarSetController(self.manager, self.injector, workers=cfg.workers)
        if self.shards is not None:
            sts, jobs = self.statefulsets, self.broadcastjobs
            self.shards.add(sts, lambda: [(ns or "", n) for ns, n in sts.sets.keys()])  # noqa: SIM118
            self.shards.add(jobs, lambda: [(ns or "", n) for ns, n in jobs.jobs.keys()])  # noqa: SIM118
            # After the controllers: at shutdown they stop before the member releases its buckets.
            self.manager.add(self.shards.member)
        if cfg.leader_elect:
            # Added last: at shutdown the controllers stop before the Lease is released.
            self.elector = LeaseElector(
                self.lease_client,
                cfg.leader_election_namespace or cfg.operator_namespace,
                cfg.leader_election_id,
                lease_duration=cfg.lease_duration,
                renew_deadline=cfg.renew_deadline,
                retry_period=cfg.retry_period,
                flag=cast(LeaderFlag, self.manager.leader),
                identity=self.identity,
            )
            self.manager.add(self.elector)
        self.webhooks_ready = cfg.webhook_mode == "none"
        self.manager.ready_checks.append(lambda: True if self.webhooks_ready else "webhooks not registered")
        self.ca_pem: bytes = b""
        self.serving_pem: Path | None = None
        self.cert_task: asyncio.Task[None] | None = None
        self.trim_task: asyncio.Task[None] | None = None
        self.start_task: asyncio.Task[None] | None = None
        # Set to stop kopf when starting failed in the background (see _start_when_serving).
        self.stop_flag = asyncio.Event()
        self.failed = False
        # StorageClasses, for the admission rule that a grown claim template needs an expandable class.
        self.storage_classes = self.manager.cache(
            Resource("storage.k8s.io/v1", "storageclasses", namespaced=False)
        )
        self.crd_conversion_lock = asyncio.Lock()
        self._crd_tasks: set[asyncio.Task[None]] = set()
        self.conversion_ensured = False
        # Our CRDs, watched so that a conversion setting someone resets (a re-applied OpenKruise
        # CRD, a `kubectl replace`) is put back at once; one informer per name (field selector).
        # Their schemas also let the defaulting webhook answer a wrong type once (schema_types).
        self.crds: dict[str, ObjectCache] = {}
        for crd in (*whconfig.CONVERSION_CRDS, *whconfig.NONE_CONVERSION_CRDS):
            res = Resource(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                namespaced=False,
                field_selector=f"metadata.name={crd}",
            )
            self.manager.on_event(res, self._on_crd)
            self.crds[crd] = self.manager.cache(res)

    # -- webhooks ------------------------------------------------------------------------------
    def webhook_server(self) -> Any:
        if self.cfg.webhook_mode == "none":
            return None
        if self.cfg.webhook_mode == "local":
            host = self.cfg.webhook_host
            if self.cfg.webhook_port == 0:
                from .sandbox.controlplane import free_port

                self.cfg.webhook_port = free_port()
            crt, key, self.ca_pem = certs.ensure(_cert_dir(self.cfg), dns=("localhost",), ips=(host,))
            return kopf.WebhookServer(
                addr=host, port=self.cfg.webhook_port, host=host, certfile=str(crt), pkeyfile=str(key)
            )
        # service: the chart's Service points at this port; the certificate is for the Service DNS
        # name. kopf re-reads the files when they change (renewal, or cert-manager's rotation).
        if self.cfg.webhook_cert_source == "dir":
            d = _cert_dir(self.cfg)
            crt, key = d / "tls.crt", d / "tls.key"
        else:
            assert self.serving_pem is not None, "prepare_certs() first"
            crt = key = self.serving_pem  # one file: certificate and key replaced together
        return kopf.WebhookServer(
            addr="0.0.0.0",
            port=self.cfg.webhook_port,
            certfile=str(crt),
            pkeyfile=str(key),
            file_check_interval=CERT_FILE_CHECK_S,
        )

    def _service_names(self) -> tuple[str, ...]:
        return certs.service_names(self.cfg.webhook_service, self.cfg.operator_namespace)

    async def prepare_certs(self) -> None:
        """service mode, certificate in a Secret: read (or create, or renew) it and write the serving
        pair where kopf's server reads it. Every replica does this; they converge on one Secret."""
        if self.cfg.webhook_mode != "service" or self.cfg.webhook_cert_source != "secret":
            return
        bundle = await certs.ensure_secret(
            self.client, self.cfg.operator_namespace, self.cfg.webhook_secret, self._service_names()
        )
        self.serving_pem = certs.write_pair(_cert_dir(self.cfg), bundle)
        self.ca_pem = bundle.ca_crt

    async def maintain_certs(self) -> None:
        """Re-check the Secret now and then: renew before expiry (whichever replica sees it first),
        pick up a renewal made by another replica, and put the caBundle back if someone reset it."""
        while True:
            await asyncio.sleep(CERT_CHECK_S)
            try:
                await self.prepare_certs()
                await self.register_webhooks()
            except (ApiError, OSError, RuntimeError) as e:
                log.warning("webhook certificate check failed: %s; retrying in %ss", e, CERT_CHECK_S)

    async def register_webhooks(self) -> None:
        """local: create/update URL webhook configurations. service: the Helm chart ships them with a
        Service reference; we patch our CA into their caBundle (as OpenKruise does), unless
        cert-manager's CA injector owns it (cert source "dir")."""
        ca = base64.b64encode(self.ca_pem).decode()
        if self.cfg.webhook_mode == "service" and self.cfg.webhook_cert_source == "dir":
            pass
        elif self.cfg.webhook_mode == "local":
            base = f"https://{self.cfg.webhook_host}:{self.cfg.webhook_port}"
            objs = whconfig.configurations(
                lambda h: whconfig.client_config_url(base, h, ca),
                self.cfg.operator_namespace,
                self.cfg.webhook_failure_policy,
            )
            for obj in objs:
                await self.client.patch(
                    _webhook_path(obj["kind"], obj["metadata"]["name"]),
                    obj,
                    "apply",
                    fieldManager="kruise-py",
                    force="true",
                )
        else:
            for kind, name in (
                ("MutatingWebhookConfiguration", whconfig.MUTATING_NAME),
                ("ValidatingWebhookConfiguration", whconfig.VALIDATING_NAME),
            ):
                path = _webhook_path(kind, name)
                current = await self.client.get(path)
                ops = [
                    {
                        "op": "replace" if "caBundle" in w["clientConfig"] else "add",
                        "path": f"/webhooks/{i}/clientConfig/caBundle",
                        "value": ca,
                    }
                    for i, w in enumerate(current.get("webhooks", []))
                    if w["clientConfig"].get("caBundle") != ca
                ]
                if ops:
                    await self.client.patch(path, ops, "json")
                    log.info("patched the caBundle of %s %s", kind, name)
        if not self.webhooks_ready:
            log.info("webhook configurations registered (%s mode)", self.cfg.webhook_mode)
        self.webhooks_ready = True

    def crd(self, name: str) -> dict[str, Any] | None:
        """Our CRD as the apiserver serves it now (None before the cache has it, or without RBAC)."""
        cache = self.crds.get(name)
        return cache.get(None, name) if cache is not None else None

    def conversion_client_config(self) -> dict[str, Any] | None:
        """Where the apiserver reaches our /convert, with the CA it should trust; None: not served."""
        mode = self.cfg.webhook_mode
        if mode == "none":
            return None
        if mode == "local":
            base = f"https://{self.cfg.webhook_host}:{self.cfg.webhook_port}"
            return whconfig.conversion_client_config_url(base, base64.b64encode(self.ca_pem).decode())
        ca = self.ca_pem
        if self.cfg.webhook_cert_source == "dir":
            # cert-manager's Secret carries the issuing CA as ca.crt; its CA injector cannot reach
            # CRDs that Helm installs from crds/ (no templating there), so we put it in ourselves.
            with contextlib.suppress(OSError):
                ca = (_cert_dir(self.cfg) / "ca.crt").read_bytes()
        return whconfig.conversion_client_config_service(
            self.cfg.operator_namespace, self.cfg.webhook_service, base64.b64encode(ca).decode() if ca else ""
        )

    async def ensure_crd_conversion(self) -> None:
        """Give our CRDs the conversion they need (webhooks/config.py), as OpenKruise's manager points
        its CRDs' conversion webhook at itself. Every replica does it; they write the same value."""
        client_config = self.conversion_client_config()
        async with self.crd_conversion_lock:
            for name in (*whconfig.CONVERSION_CRDS, *whconfig.NONE_CONVERSION_CRDS):
                path = path_for("apiextensions.k8s.io/v1", "customresourcedefinitions", name=name)
                try:
                    crd = await self.client.get(path)
                    patch = whconfig.conversion_patch(crd, whconfig.desired_conversion(name, client_config))
                    if patch is not None:
                        await self.client.patch(path, patch, "merge")
                        log.info(
                            "set the conversion of CRD %s to %s",
                            name,
                            patch["spec"]["conversion"]["strategy"],
                        )
                except ApiError as e:
                    if e.not_found or e.status == 403:
                        # Not installed, or RBAC without the CRD rule: v1alpha1 SidecarSets then
                        # need whatever conversion the CRD has; everything else works.
                        log.warning("could not set the conversion of CRD %s: %s", name, e)
                        continue
                    raise
        self.conversion_ensured = True

    def _on_crd(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        # Drift is put back by the leader only: every replica sets the conversion once at start,
        # but in local mode each serves its own URL, and two correcting each other would flap.
        if new is None or not self.conversion_ensured or not self.manager.leader.is_leading():
            return
        desired = whconfig.desired_conversion(new["metadata"]["name"], self.conversion_client_config())
        if whconfig.conversion_patch(new, desired) is not None:
            task = asyncio.get_running_loop().create_task(self._ensure_quietly())
            self._crd_tasks.add(task)
            task.add_done_callback(self._crd_tasks.discard)

    async def _ensure_quietly(self) -> None:
        try:
            await self.ensure_crd_conversion()
        except (ApiError, OSError) as e:
            log.warning("could not set the CRD conversion: %s", e)

    async def unregister_local_webhooks(self) -> None:
        # A URL webhook pointing at a dead local port would block every request it matches.
        if self.cfg.webhook_mode != "local":
            return
        for kind, name in (
            ("MutatingWebhookConfiguration", whconfig.MUTATING_NAME),
            ("ValidatingWebhookConfiguration", whconfig.VALIDATING_NAME),
        ):
            with contextlib.suppress(ApiError):
                await self.client.delete(_webhook_path(kind, name))

    async def ensure_namespace(self) -> None:
        """Outside a cluster the operator namespace and the home of SidecarSet revisions may not exist."""
        for ns in sorted({self.cfg.operator_namespace, self.injector.revision_namespace}):
            try:
                await self.client.create(
                    path_for("v1", "namespaces"),
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                )
            except ApiError as e:
                if not e.already_exists:
                    log.warning("could not create namespace %s: %s", ns, e)

    def storage_class(self, name: str | None) -> dict[str, Any] | None:
        """A StorageClass by name, or the default class (its is-default-class annotation) for None."""
        if name is not None:
            return self.storage_classes.get(None, name)
        return next(
            (
                c
                for c in self.storage_classes.list()
                if (c["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
                == "true"
            ),
            None,
        )

    def other_sidecarsets(self, name: str) -> list[dict[str, Any]]:
        """The other SidecarSets, for the cross-object conflict rules, from the informer cache the
        injector keeps anyway (no LIST per admission request, as OpenKruise's cached client)."""
        return [o for o in self.injector.sidecarsets.list() if o["metadata"]["name"] != name]


def _webhook_path(kind: str, name: str) -> str:
    plural = (
        "mutatingwebhookconfigurations" if kind.startswith("Mutating") else "validatingwebhookconfigurations"
    )
    return path_for("admissionregistration.k8s.io/v1", plural, name=name)


def build_registry(op: Operator) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        c = op.creds
        header = c.auth_header()
        return kopf.ConnectionInfo(
            server=c.server,
            ca_data=c.ca_data,
            insecure=c.insecure,
            certificate_data=c.cert_data,
            private_key_data=c.key_data,
            token=header.split(" ", 1)[1] if header else None,
        )

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False  # we post our own events, aggregated
        settings.scanning.disabled = True  # no CRD/namespace scanning: least privilege
        settings.watching.server_timeout = 300
        # Hand glibc's free memory back now and then (runtime/malloc.py, P4).
        op.trim_task = asyncio.get_running_loop().create_task(malloc.trim_forever())
        await op.prepare_certs()
        # Our own server on its own thread (webhooks/server.py): pod injection is answered there.
        base = op.webhook_server()
        settings.admission.server = (
            None
            if base is None
            else cast(
                Any,
                whserver.AdmissionServer(
                    base, _fast_hooks(op), {whconfig.CONVERSION_PATH.lstrip("/"): convert_review}
                ),
            )
        )
        settings.admission.managed = None  # we register configurations ourselves (namespaceSelector)
        if op.cfg.webhook_mode == "local":
            await op.ensure_namespace()
        if op.cfg.webhook_mode == "none":
            await op.ensure_crd_conversion()
            await op.manager.start()
        else:
            # kopf serves webhooks only after the startup handlers: the caches (whose SidecarSets may
            # need our own conversion webhook to be read) load once it serves (_start_when_serving).
            op.start_task = asyncio.get_running_loop().create_task(_start_when_serving(op))
        if op.cfg.webhook_mode == "service" and op.cfg.webhook_cert_source == "secret":
            op.cert_task = asyncio.get_running_loop().create_task(op.maintain_certs())

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        for task in (op.cert_task, op.trim_task, op.start_task):
            if task is not None:
                task.cancel()
        await op.unregister_local_webhooks()
        await op.manager.stop()
        await op.lease_client.close()

    if op.cfg.webhook_mode == "none":
        return registry

    for hook in whconfig.WEBHOOKS:
        _register_admission(registry, op, hook)
    return registry


def _register_admission(registry: kopf.OperatorRegistry, op: Operator, hook: whconfig.Webhook) -> None:
    plural = hook.plural
    if plural == "pods":
        return  # served by whserver.AdmissionServer on its own thread: see _fast_hooks
    if hook.mutating:

        def apply_defaults(b: kopf.RawBody) -> None:
            admission.default(plural, cast(dict[str, Any], b))
            if op.shards is not None and plural in SHARDED_PLURALS:
                label_owner(cast(dict[str, Any], b))

        def mutate(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
            # A wrong type is answered here, once, before the apiserver's schema check answers it
            # twice (once as an internal accessor error for the scale subresource's paths).
            try:
                admission.check_types(plural, dict(body), op.crd(f"{plural}.{hook.group}"))
            except admission.Denied as e:
                log.info("denied %s %s: %s", plural, body.get("metadata", {}).get("name"), e)
                raise kopf.AdmissionError(str(e), code=e.code) from None
            # kopf diffs the body before and after this function into the JSON patch it returns.
            patch.fns.append(apply_defaults)

        kopf.on.mutate(
            hook.group,
            hook.version,
            plural,
            id=hook.id,
            registry=registry,
            operations=cast(Any, list(hook.operations)),
        )(cast(Any, mutate))
    else:

        async def validate(body: kopf.Body, old: kopf.BodyEssence | None, operation: str, **_: Any) -> None:
            name = body.get("metadata", {}).get("name")
            if plural == "sidecarsets" and not op.manager.synced:
                # The conflict rules need every other SidecarSet, from a cache still loading.
                raise kopf.AdmissionError(
                    "kruise-py is starting: SidecarSet caches are not loaded yet", code=503
                )
            try:
                kwargs: dict[str, Any] = {}
                if plural == "sidecarsets":
                    kwargs["others"] = op.other_sidecarsets(name)
                elif plural == "statefulsets" and op.manager.synced:
                    kwargs["storage_class"] = op.storage_class
                admission.validate(
                    plural, dict(body), dict(old) if old and operation == "UPDATE" else None, **kwargs
                )
            except admission.Denied as e:
                # A rejection is an answer, not an error: INFO, and kopf's own ERROR line is muted.
                log.info("denied %s %s %s: %s", operation, plural, name, e)
                raise kopf.AdmissionError(str(e), code=e.code) from None
            except Exception as e:
                log.exception("validating %s %s failed", plural, name)
                raise kopf.AdmissionError(
                    f"kruise-py could not validate {plural} {name}: {e}", code=500
                ) from None

        kopf.on.validate(
            hook.group,
            hook.version,
            plural,
            id=hook.id,
            registry=registry,
            operations=cast(Any, list(hook.operations)),
        )(cast(Any, validate))


def _fast_hooks(op: Operator) -> dict[str, whserver.FastFn]:
    """The SidecarSet injection webhook, called for every pod CREATE in the cluster."""
    hook = next(h for h in whconfig.WEBHOOKS if h.plural == "pods")

    def inject(pod: dict[str, Any]) -> dict[str, Any] | None:
        # On the server's thread: the injector answers from the view the event loop published
        # whole (injector.py), never from the caches the loop is updating.
        with admission.ADMISSION_LATENCY.labels(hook.id).time():
            try:
                return op.injector.inject(pod)
            except NotReady as e:
                raise whserver.Rejected(str(e), 503) from None
            except InjectionError as e:
                # Where OpenKruise rejects the pod (e.g. an annotation that is not valid JSON).
                raise whserver.Rejected(f"SidecarSet injection: {e}", 400) from None

    return {hook.id: inject}


async def _retrying(what: str, fn: Any) -> None:
    while True:
        try:
            await fn()
            return
        except ApiError as e:
            log.warning("%s failed: %s; retrying", what, e)
            await asyncio.sleep(2)


async def _start_when_serving(op: Operator) -> None:
    """Once the webhook server answers: point our CRDs' conversion at it, load the caches, start
    the controllers, then register the admission webhooks (local mode), so that the pod webhook is
    never registered before it can answer from loaded caches."""
    try:
        for _ in range(300):
            try:
                _, w = await asyncio.open_connection(
                    op.cfg.webhook_host if op.cfg.webhook_mode == "local" else "127.0.0.1",
                    op.cfg.webhook_port,
                )
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        await _retrying("setting the CRD conversion", op.ensure_crd_conversion)
        await op.manager.start()
        await _retrying("registering webhooks", op.register_webhooks)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("starting failed")
        op.failed = True
        op.stop_flag.set()


def _setup_logging(cfg: OperatorConfig) -> None:
    level = getattr(logging, cfg.log_level)
    if cfg.log_format == "json":
        import json as _json

        class JsonFormatter(logging.Formatter):
            def format(self, r: logging.LogRecord) -> str:
                d = {"ts": self.formatTime(r), "level": r.levelname, "logger": r.name, "msg": r.getMessage()}
                if r.exc_info:
                    d["exc"] = self.formatException(r.exc_info)
                return _json.dumps(d)

        h = logging.StreamHandler()
        h.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[h], force=True)
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # kopf and aiohttp log every webhook request; kopf logs each admission denial at ERROR
    # ("failed permanently"). Denials and real handler errors are logged by our handlers instead.
    logging.getLogger("kopf").setLevel(max(level, logging.WARNING))
    logging.getLogger("kopf.objects").setLevel(logging.CRITICAL)
    logging.getLogger("aiohttp.access").setLevel(max(level, logging.WARNING))


def run(cfg: OperatorConfig) -> int:
    malloc.limit_arenas()  # before any thread starts (runtime/malloc.py, P4)
    malloc.small_tls_buffers()  # before any connection opens
    _setup_logging(cfg)
    op = Operator(cfg)
    registry = build_registry(op)
    asyncio.run(kopf.operator(registry=registry, standalone=True, clusterwide=True, stop_flag=op.stop_flag))
    return 1 if op.failed else 0
