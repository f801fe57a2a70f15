"""How each backing server of the local stack is prepared, started and checked.

Every server is a `Component`: `prepare()` lays out its data directory (idempotently), `spec()` says
how to run it in the foreground under our supervisor, and `after_start()` does one-time setup
that needs it running (roles, databases). Servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from kommerce.runtime.component import Component
from kommerce.runtime.probes import http_ok, tcp_open
from kommerce.runtime.procs import ProcessError, run_as
from kommerce.stack import config, opensearch
from kommerce.tools.catalog import tool_path


def ensure_owned(path: Path, user: str) -> None:
    """Make `path` owned by `user` and every ancestor traversable by it (root runs only).

    PostgreSQL refuses to run as root, so as root it runs as the `postgres` user; its data
    directory lives under the state dir, whose ancestors (e.g. /root, mode 0700) need the
    execute bit for others. Only that bit is added: nothing becomes listable or readable.
    """
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    path.mkdir(parents=True, exist_ok=True)
    for root, _dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    for ancestor in path.parents:
        mode = ancestor.stat().st_mode
        if not mode & 0o001:
            ancestor.chmod(mode | 0o001)


def _run_checked(argv: list[str], *, what: str, log: Path, user: str | None = None) -> None:
    ids = run_as(user)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        result = subprocess.run(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            **(ids.popen_kwargs() if ids else {}),
        )
    if result.returncode != 0:
        raise ProcessError(f"{what} failed (exit {result.returncode}); see {log}")


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_prepare(s: Component) -> None:
    data = s.root / "data"
    (s.root / "run").mkdir(parents=True, exist_ok=True)
    initialise = not (data / "PG_VERSION").exists()
    pwfile = s.root / "pwfile"
    if initialise:
        pwfile.write_text(config.credentials().postgres_password + "\n")
    ensure_owned(s.root, "postgres")  # as root: the server runs as `postgres`
    if not initialise:
        return
    try:
        _run_checked(
            [
                str(tool_path("initdb")),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            what="initdb",
            log=s.log,
            user="postgres",
        )
    finally:
        pwfile.unlink(missing_ok=True)


def _pg_argv(s: Component) -> list[str]:
    return [
        str(tool_path("postgres")),
        "-D",
        str(s.root / "data"),
        "-p",
        str(s.port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={s.root / 'run'}",
        "-c",
        "max_connections=200",
        # sized so a service's hot tables and indexes stay in PostgreSQL's cache (search at
        # 100k products: 118 MB table + 55 MB indexes); the planner is told the OS caches more
        "-c",
        "shared_buffers=512MB",
        "-c",
        "effective_cache_size=4GB",
    ]


def _psql(s: Component, sql: str) -> str:
    result = subprocess.run(
        [
            str(tool_path("psql")),
            "-h",
            str(s.root / "run"),
            "-p",
            str(s.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ProcessError(f"postgres: `{sql[:60]}` failed: {result.stderr.strip()}")
    return result.stdout.strip()


def _pg_health(s: Component) -> bool:
    return (
        subprocess.run(
            [
                str(tool_path("psql")),
                "-h",
                str(s.root / "run"),
                "-p",
                str(s.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                "select 1",
            ],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def _pg_after_start(s: Component) -> None:
    creds = config.credentials()
    password = creds.kommerce_db_password.replace("'", "''")
    if _psql(s, "select 1 from pg_roles where rolname='kommerce'") != "1":
        _psql(s, f"create role kommerce login createdb createrole password '{password}'")
    else:
        _psql(s, f"alter role kommerce password '{password}'")
    existing = _psql(s, "select string_agg(datname, ',') from pg_database").split(",")
    for db in ("kommerce", "mlflow"):
        if db not in existing:
            _psql(s, f"create database {db} owner kommerce")


# --- Redis ------------------------------------------------------------------------------------


def _redis_argv(s: Component) -> list[str]:
    return [
        str(tool_path("redis-server")),
        "--bind",
        "127.0.0.1",
        "--port",
        str(s.port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(s.root),
        "--daemonize",
        "no",
        "--requirepass",
        config.credentials().redis_password,
    ]


def _redis_health(s: Component) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", s.port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        reply = sock.recv(64)
    return reply.startswith((b"+PONG", b"-NOAUTH"))


# --- Kafka (KRaft, single node) ---------------------------------------------------------------

KAFKA_LOG4J = """Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka
        level: INFO
      - name: org.apache.kafka
        level: WARN
"""


def kafka_log_dir(s: Component) -> Path:
    """Where the broker keeps its topics (`log.dirs`) and its KRaft metadata."""
    return s.root / "data"


def _kafka_prepare(s: Component) -> None:
    data = kafka_log_dir(s)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{config.port('kafka-controller')}",
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{s.port},CONTROLLER://127.0.0.1:{config.port('kafka-controller')}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
    }
    (s.root / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (s.root / "log4j2.yaml").write_text(KAFKA_LOG4J)
    if (data / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    _run_checked(
        [
            *_java(s),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(s.root / "server.properties"),
        ],
        what="kafka storage format",
        log=s.log,
    )


def _java(s: Component) -> list[str]:
    lib = tool_path("kafka") / "lib"
    java = shutil.which("java")
    if not java:
        raise ProcessError("kafka: `java` (17+) is not on PATH; install openjdk-17-jre-headless")
    return [
        java,
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={s.root / 'log4j2.yaml'}",
        "-cp",
        f"{lib}/*",
    ]


def _kafka_health(s: Component) -> bool:
    if not tcp_open(s.port):
        return False
    text = s.log.read_text(errors="replace")
    last_start = text.rfind("--- kommerce: starting kafka")
    return "Kafka Server started" in text[last_start:]


# --- RabbitMQ ---------------------------------------------------------------------------------


def _rabbit_prepare(s: Component) -> None:
    creds = config.credentials()
    (s.root / "mnesia").mkdir(parents=True, exist_ok=True)
    (s.root / "log").mkdir(parents=True, exist_ok=True)
    (s.root / "enabled_plugins").write_text("[].\n")
    (s.root / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{s.port}\n"
        f"default_user = kommerce\ndefault_pass = {creds.rabbitmq_password}\n"
        "default_vhost = /\nloopback_users = none\n"
        "disk_free_limit.absolute = 50MB\nlog.console = true\nlog.file = false\n"
    )
    cookie = s.root / ".erlang.cookie"
    if not cookie.exists():
        fd = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "w") as out:
            out.write(uuid.uuid4().hex)


def _rabbit_env(s: Component) -> dict[str, str]:
    return {
        "HOME": str(s.root),
        "RABBITMQ_NODENAME": f"kommerce{config.port_offset()}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(s.port),
        "RABBITMQ_DIST_PORT": str(config.port("rabbitmq-dist")),
        "ERL_EPMD_PORT": str(config.port("epmd")),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(s.root / "mnesia"),
        "RABBITMQ_LOG_BASE": str(s.root / "log"),
        "RABBITMQ_PID_FILE": str(s.root / "rabbit.pid"),
        "RABBITMQ_CONFIG_FILE": str(s.root / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(s.root / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(s.root / "rabbitmq-env.conf"),
        "RABBITMQ_USE_LONGNAME": "false",
    }


def _epmd_argv(s: Component) -> list[str]:
    return [str(tool_path("epmd")), "-port", str(s.port), "-address", "127.0.0.1"]


def _rabbit_argv(s: Component) -> list[str]:
    (s.root / "rabbitmq-env.conf").touch()
    return [str(tool_path("rabbitmq-server"))]


def _amqp_health(s: Component) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", s.port), timeout=1) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        return sock.recv(8)[:1] == b"\x01"  # a Connection.Start method frame


# --- OpenBao, OPA, Prometheus, MLflow, stripe-mock, SMTP sink, S3 ------------------------------


def _bao_prepare(s: Component) -> None:
    """A persistent (raft) server, so a restart keeps its secrets, leases and set-up."""
    (s.root / "data").mkdir(parents=True, exist_ok=True)
    cluster_port = s.ports[1]
    (s.root / "config.hcl").write_text(
        f'storage "raft" {{\n  path = "{s.root / "data"}"\n  node_id = "kommerce"\n}}\n'
        f'listener "tcp" {{\n  address = "{s.address}"\n'
        f'  cluster_address = "127.0.0.1:{cluster_port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://{s.address}"\ncluster_addr = "http://127.0.0.1:{cluster_port}"\n'
    )


def _bao_argv(s: Component) -> list[str]:
    return [str(tool_path("bao")), "server", f"-config={s.root / 'config.hcl'}"]


def _bao_health(s: Component) -> bool:
    # Up (initialised or not, sealed or not): `after_start` initialises and unseals.
    return http_ok(f"http://{s.address}/v1/sys/health?uninitcode=200&sealedcode=200")


def _bao_request(  # nosec B107 - no token is the empty default, not a password
    s: Component, method: str, path: str, body: dict[str, object], token: str = ""
) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://{s.address}/v1/{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"X-Vault-Token": token} if token else {},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
        raw = response.read()
    return dict(json.loads(raw)) if raw else {}


def _bao_after_start(s: Component) -> None:
    """Initialise once (one unseal key, kept 0600 in the state dir) and unseal on every start.

    The stack's admin token keeps the fixed id from credentials.json (what `stack env` prints);
    the root token `init` returns is revoked once that token exists.
    """
    keyfile = s.root / "unseal.json"
    status = _bao_request(s, "GET", "sys/seal-status", {})
    if not status.get("initialized"):
        shares: dict[str, object] = {"secret_shares": 1, "secret_threshold": 1}  # nosec B105
        init = _bao_request(s, "PUT", "sys/init", shares)
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"key": init["keys"][0]}, out)
        _bao_request(s, "PUT", "sys/unseal", {"key": init["keys"][0]})
        _wait_active(s)
        _bao_request(
            s,
            "POST",
            "auth/token/create",
            {"id": config.credentials().vault_token, "policies": ["root"], "no_parent": True},
            init["root_token"],
        )
        _bao_request(s, "POST", "auth/token/revoke-self", {}, init["root_token"])
        return
    if status.get("sealed"):
        if not keyfile.exists():
            raise ProcessError(
                f"OpenBao is sealed and {keyfile} is missing; `stack down` and remove {s.root}"
            )
        _bao_request(s, "PUT", "sys/unseal", {"key": json.loads(keyfile.read_text())["key"]})
    _wait_active(s)


def _wait_active(s: Component, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_ok(f"http://{s.address}/v1/sys/health"):
            return
        time.sleep(0.2)
    raise ProcessError(f"OpenBao did not become active within {timeout:.0f}s (log {s.log})")


def _opa_argv(s: Component) -> list[str]:
    return [
        str(tool_path("opa")),
        "run",
        "--server",
        "--addr",
        f"127.0.0.1:{s.port}",
        "--log-format",
        "json",
        "--log-level",
        "info",
    ]


def _prom_prepare(s: Component) -> None:
    targets = s.root / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    (s.root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
        "rule_files:\n  - rules/*.yml\n"
        "scrape_configs:\n"
        "  - job_name: prometheus\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{s.port}']\n"
        "  - job_name: kommerce\n    file_sd_configs:\n"
        f"      - files: ['{targets}/*.json']\n        refresh_interval: 5s\n"
    )
    (s.root / "rules").mkdir(exist_ok=True)


def _prom_argv(s: Component) -> list[str]:
    return [
        str(tool_path("prometheus")),
        f"--config.file={s.root / 'prometheus.yml'}",
        f"--storage.tsdb.path={s.root / 'data'}",
        f"--web.listen-address=127.0.0.1:{s.port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=2d",
    ]


def _mlflow_argv(s: Component) -> list[str]:
    creds = config.credentials()
    backend = f"postgresql+psycopg2://kommerce:{creds.kommerce_db_password}@127.0.0.1:{config.port('postgres')}/mlflow"
    return [
        str(tool_path("mlflow")),
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        str(s.root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(s.port),
        "--workers",
        "1",
    ]


def _stripe_argv(s: Component) -> list[str]:
    return [
        str(tool_path("stripe-mock")),
        "-http-addr",
        f"127.0.0.1:{s.port}",
        "-https-addr",
        f"127.0.0.1:{config.port('stripe-mock-https')}",
    ]


def _smtp_argv(s: Component) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kommerce.stack.smtp_sink",
        "--host",
        "127.0.0.1",
        "--port",
        str(s.port),
        "--maildir",
        str(s.root / "mail"),
    ]


def _s3_argv(s: Component) -> list[str]:
    return [str(tool_path("moto_server")), "-H", "127.0.0.1", "-p", str(s.port)]


def _ports(*names: str) -> tuple[int, ...]:
    return tuple(config.port(n) for n in names)


def servers() -> list[Component]:
    """Every server of the stack, in start order (`needs` names servers that must run first)."""
    base = config.stack_root()
    return [
        Component(
            name="postgres",
            base=base,
            ports=_ports("postgres"),
            user="postgres",
            prepare_fn=_pg_prepare,
            argv_fn=_pg_argv,
            health_fn=_pg_health,
            after_start_fn=_pg_after_start,
            # Fast shutdown: SIGTERM is "smart" and waits for every client (OpenBao's
            # connection pool, operators) to disconnect first.
            stop_signal=signal.SIGINT,
        ),
        Component(
            name="redis",
            base=base,
            ports=_ports("redis"),
            argv_fn=_redis_argv,
            health_fn=_redis_health,
        ),
        Component(
            name="kafka",
            base=base,
            ports=_ports("kafka", "kafka-controller"),
            prepare_fn=_kafka_prepare,
            argv_fn=lambda s: [*_java(s), "kafka.Kafka", str(s.root / "server.properties")],
            health_fn=_kafka_health,
            start_timeout=120,
        ),
        Component(name="epmd", base=base, ports=_ports("epmd"), argv_fn=_epmd_argv),
        Component(
            name="rabbitmq",
            base=base,
            ports=_ports("rabbitmq", "rabbitmq-dist"),
            needs=("epmd",),
            prepare_fn=_rabbit_prepare,
            argv_fn=_rabbit_argv,
            env_fn=_rabbit_env,
            health_fn=_amqp_health,
            start_timeout=120,
        ),
        Component(
            name="openbao",
            base=base,
            ports=_ports("openbao", "openbao-cluster"),
            prepare_fn=_bao_prepare,
            argv_fn=_bao_argv,
            env_fn=lambda s: {"HOME": str(s.root)},
            health_fn=_bao_health,
            after_start_fn=_bao_after_start,
        ),
        Component(
            name="opa",
            base=base,
            ports=_ports("opa"),
            argv_fn=_opa_argv,
            health_fn=lambda s: http_ok(f"http://{s.address}/health"),
        ),
        Component(
            name="prometheus",
            base=base,
            ports=_ports("prometheus"),
            prepare_fn=_prom_prepare,
            argv_fn=_prom_argv,
            health_fn=lambda s: http_ok(f"http://{s.address}/-/ready"),
        ),
        Component(
            name="mlflow",
            base=base,
            ports=_ports("mlflow"),
            needs=("postgres",),
            argv_fn=_mlflow_argv,
            env_fn=lambda s: {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "HOME": str(s.root)},
            health_fn=lambda s: http_ok(f"http://{s.address}/health"),
            start_timeout=180,
        ),
        Component(
            name="stripe-mock",
            base=base,
            ports=_ports("stripe-mock", "stripe-mock-https"),
            argv_fn=_stripe_argv,
        ),
        Component(name="smtp", base=base, ports=_ports("smtp"), argv_fn=_smtp_argv),
        Component(
            name="s3",
            base=base,
            ports=_ports("s3"),
            argv_fn=_s3_argv,
            health_fn=lambda s: http_ok(f"http://{s.address}/moto-api/"),
        ),
        opensearch.component(base),
    ]
