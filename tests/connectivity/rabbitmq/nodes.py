"""RabbitMQ nodes of our own for tests and benchmarks: free ports, their own node name, cookie, data
dir, config and enabled-plugins file. The machine's own node (rabbit@localhost) and its config are
never touched: RABBITMQ_CONF_ENV_FILE points at an empty file (the system one forces the node name).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RABBITMQ_BIN = Path(os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
SERVER = RABBITMQ_BIN / "rabbitmq-server"
CTL = RABBITMQ_BIN / "rabbitmqctl"
PLUGINS = ("rabbitmq_mqtt", "rabbitmq_auth_backend_http", "rabbitmq_event_exchange", "rabbitmq_management",
           "rabbitmq_consistent_hash_exchange")
BRIDGE_USER = "portal-bridge"
# a deviceKey may hold ":", which the MQTT plugin otherwise reads as "vhost:username" (not in rabbitmq.conf's schema)
ADVANCED_CONFIG = "[{rabbitmq_mqtt, [{ignore_colons_in_username, true}]}].\n"


def missing_reason() -> str | None:
    """Why no node can be started here (None when rabbitmq-server is installed)."""
    if not SERVER.exists() or not CTL.exists():
        return f"rabbitmq-server is not installed ({SERVER} missing): the RabbitMQ tests need a local RabbitMQ 3.10+"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class RabbitNode:
    """One node: `start()` it, `stop()` it; `auth_base` is where its HTTP auth backend asks."""

    auth_base: str  # e.g. http://127.0.0.1:8123/connectivity/rabbitmq/auth/<secret>
    name: str = field(default_factory=lambda: f"portal-test-{secrets.token_hex(4)}")
    cookie: str = field(default_factory=lambda: secrets.token_hex(16))
    amqp_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    bridge_password: str = field(default_factory=lambda: secrets.token_hex(12))
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rabbitmq-node-")))
    auth_cache_ttl_ms: int = 0  # 0: no rabbitmq_auth_backend_cache in front of the HTTP backend

    @property
    def node(self) -> str:
        return f"{self.name}@localhost"

    @property
    def amqp_url(self) -> str:
        return f"amqp://{BRIDGE_USER}:{self.bridge_password}@127.0.0.1:{self.amqp_port}/%2F"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        (self.base / "home").mkdir(parents=True, exist_ok=True)
        env.update({
            "HOME": str(self.base / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            "ERL_CRASH_DUMP": str(self.base / "erl_crash.dump"),  # never in the checkout
        })
        return env

    def config(self) -> str:
        backends = ["internal", "cache" if self.auth_cache_ttl_ms else "http"]
        lines = [
            f"auth_backends.1 = {backends[0]}",
            f"auth_backends.2 = {backends[1]}",
            "auth_http.http_method = post",
            f"auth_http.user_path = {self.auth_base}/user/",
            f"auth_http.vhost_path = {self.auth_base}/vhost/",
            f"auth_http.resource_path = {self.auth_base}/resource/",
            f"auth_http.topic_path = {self.auth_base}/topic/",
            f"listeners.tcp.default = {self.amqp_port}",
            f"mqtt.listeners.tcp.default = {self.mqtt_port}",
            "mqtt.allow_anonymous = false",
            f"management.tcp.port = {self.management_port}",
            "management.tcp.ip = 127.0.0.1",
            "loopback_users = none",
            "collect_statistics_interval = 1000",  # the management API knows a connection (to kick it) sooner
            "log.console = false",
            "log.file.level = warning",
            "vm_memory_high_watermark.relative = 0.2",
            # the bridge's user, made at the node's first boot (no rabbitmqctl round trips; no guest user)
            f"default_user = {BRIDGE_USER}",
            f"default_pass = {self.bridge_password}",
            "default_user_tags.administrator = true",
            "default_permissions.configure = .*",
            "default_permissions.read = .*",
            "default_permissions.write = .*",
            "disk_free_limit.absolute = 50MB",
        ]
        if self.auth_cache_ttl_ms:
            lines += ["auth_cache.cached_backend = http", f"auth_cache.cache_ttl = {self.auth_cache_ttl_ms}"]
        return "\n".join(lines) + "\n"

    def write_files(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "rabbitmq.conf").write_text(self.config())
        (self.base / "advanced.config").write_text(ADVANCED_CONFIG)
        plugins = PLUGINS + (("rabbitmq_auth_backend_cache",) if self.auth_cache_ttl_ms else ())
        (self.base / "enabled_plugins").write_text("[" + ",".join(plugins) + "].\n")
        home = self.base / "home"
        home.mkdir(exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)

    def ctl(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(CTL), "-n", self.node, *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=check, cwd=self.base)

    def start(self, *, timeout: float = 180) -> None:
        self.write_files()
        subprocess.run([str(SERVER), "-detached"], env=self.env(), check=True, timeout=60, cwd=self.base,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.await_startup(timeout=timeout)

    def await_startup(self, *, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            done = self.ctl("await_startup", "--timeout", "60", timeout=90, check=False)
            if done.returncode == 0 and self._listening(self.mqtt_port):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} did not start: {done.stdout}{done.stderr}\n"
                                   f"{self.log_tail()}")
            time.sleep(0.5)

    @staticmethod
    def _listening(port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
        return False

    def _kill(self, *, timeout: float = 30) -> bool:
        """Kill the node's VM (only if the pid is still this node's: its command line names the node's
        home folder) and wait until it is gone. False when there was no such VM to kill."""
        try:
            pid = int((self.base / "node.pid").read_text().strip())
            if str(self.base / "home").encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                return False
            os.kill(pid, 9)
        except (OSError, ValueError):
            return False
        deadline = time.monotonic() + timeout
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def log_tail(self) -> str:
        logs = sorted((self.base / "log").glob("*.log")) if (self.base / "log").exists() else []
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in logs)

    def join(self, other: RabbitNode) -> None:
        """Cluster this (running) node with `other` (they must share the cookie)."""
        self.ctl("stop_app")
        self.ctl("join_cluster", other.node)
        self.ctl("start_app")
        self.await_startup()

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.await_startup()

    def stop(self) -> None:
        """End the node and remove its files. Its data is thrown away, so its VM is killed: a graceful
        `rabbitmqctl stop` spends 5 s stopping the management plugin alone. Without a VM to kill (no pid
        file yet), rabbitmqctl stops it."""
        if not self._kill():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.ctl("stop", timeout=120, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
