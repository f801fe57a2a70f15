"""OpenSearch in the local stack: one embedded node from the Maven Central jars.

The tool `opensearch` (kommerce/tools/versions.toml) holds the server's jars in `lib/` and our
launcher (kommerce/tools/opensearch/Launcher.java) in `classes/`. The node is single-node,
HTTP on 127.0.0.1 only, security off (loopback, like every stack server), data under the stack
root. See docs/search-opensearch.md.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from kommerce.runtime.component import Component
from kommerce.runtime.procs import ProcessError
from kommerce.stack import config
from kommerce.tools.catalog import tool_path

LOG4J2 = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.deprecation.name = org.opensearch.deprecation
logger.deprecation.level = error
"""

HEALTHY = ("green", "yellow")


def prepare(s: Component) -> None:
    home = s.root / "home"
    (home / "config").mkdir(parents=True, exist_ok=True)
    (s.root / "tmp").mkdir(exist_ok=True)
    settings = {
        "cluster.name": "kommerce-local",
        "node.name": "kommerce-1",
        "path.home": str(home),
        "path.data": str(s.root / "data"),
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": str(s.port),
        "transport.port": str(s.ports[1]),
        "http.type": "netty4",
        "transport.type": "netty4",
        # one node: never wait for replicas, and keep working on a nearly full dev disk
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "action.auto_create_index": "false",
    }
    (s.root / "opensearch.yml").write_text(
        "".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items())
    )
    (s.root / "log4j2.properties").write_text(LOG4J2)


def argv(s: Component) -> list[str]:
    home = tool_path("opensearch")
    java = shutil.which("java")
    if not java:
        raise ProcessError(
            "opensearch: `java` (17+) is not on PATH; install openjdk-17-jre-headless"
        )
    return [
        java,
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        # C1 only: on the shared 2-core machines the node is ready in about half the time
        # (measured: 13-17 s instead of 30-33 s at load 6) and uses ~30 MB less
        "-XX:TieredStopAtLevel=1",
        "-XX:-OmitStackTraceInFastThrow",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        "-Dio.netty.allocator.numDirectArenas=0",
        "-Dlog4j2.disable.jmx=true",
        "-Dlog4j.shutdownHookEnabled=false",
        f"-Djava.io.tmpdir={s.root / 'tmp'}",
        f"-Dlog4j2.configurationFile={s.root / 'log4j2.properties'}",
        "-cp",
        f"{home / 'classes'}:{home / 'lib'}/*",
        "kommerce.opensearch.Launcher",
        str(s.root / "opensearch.yml"),
    ]


def cluster_status(url: str, *, timeout: float = 3.0) -> str:
    """The cluster health colour (green, yellow, red); raises if the node does not answer."""
    with urllib.request.urlopen(f"{url}/_cluster/health", timeout=timeout) as resp:  # noqa: S310  # nosec B310 (a URL we build)
        return str(json.load(resp)["status"])


def healthy(s: Component) -> bool:
    return cluster_status(f"http://{s.address}") in HEALTHY


def component(base: Path) -> Component:
    return Component(
        name="opensearch",
        base=base,
        ports=(config.port("opensearch"), config.port("opensearch-transport")),
        prepare_fn=prepare,
        argv_fn=argv,
        health_fn=healthy,
        start_timeout=120,
    )
