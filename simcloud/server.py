"""Running the simulated cloud: a threaded werkzeug server on loopback, in the background."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import yaml
from werkzeug.serving import WSGIRequestHandler, make_server

from .admin import inventory
from .app import create_app
from .seeding import apply_seed
from .settings import Settings
from .store import Store


def check_loopback(host: str) -> None:
    """The simulator only ever listens on this machine."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"host must be a loopback address, not {host}")


class QuietHandler(WSGIRequestHandler):
    """No access log line per request (a rehearsal makes thousands); errors still log."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SimServer:
    """A running simulated cloud. `url` is its base; Keystone is at `auth_url`."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0):
        check_loopback(host)
        self.store = store
        self.app = create_app(store)
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=QuietHandler)
        self.host, self.port = host, self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="simcloud",
                                        daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    def start(self) -> SimServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the same operations as /_sim, without HTTP
    def seed(self, spec: dict) -> dict:
        with self.store.lock:
            return apply_seed(self.store, spec)

    def inventory(self) -> dict:
        with self.store.lock:
            return inventory(self.store)

    def add_fault(self, spec: dict) -> dict:
        with self.store.lock:
            self.store.faults.add(spec)
            return self.store.faults.listing()[-1]

    def configure(self, **values) -> None:
        with self.store.lock:
            self.store.settings.update(values)

    # -- how clients find it
    def env(self) -> dict[str, str]:
        """OS_* variables for a password login (openstacksdk, gophercloud/terraform)."""
        s = self.store.settings
        return {"OS_AUTH_URL": self.auth_url, "OS_AUTH_TYPE": "password",
                "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public",
                "OS_REGION_NAME": s.region, "OS_USERNAME": s.username, "OS_PASSWORD": s.password,
                "OS_PROJECT_NAME": s.project_name, "OS_USER_DOMAIN_NAME": s.domain,
                "OS_PROJECT_DOMAIN_NAME": s.domain}

    def application_credential_env(self, credential_id: str, secret: str) -> dict[str, str]:
        return {"OS_AUTH_URL": self.auth_url, "OS_AUTH_TYPE": "v3applicationcredential",
                "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public",
                "OS_REGION_NAME": self.store.settings.region,
                "OS_APPLICATION_CREDENTIAL_ID": credential_id,
                "OS_APPLICATION_CREDENTIAL_SECRET": secret}

    def cloud_config(self, credential: tuple[str, str] | None = None) -> dict:
        """One clouds.yaml entry: password auth, or an application credential (id, secret)."""
        s = self.store.settings
        if credential is None:
            auth = {"auth_url": self.auth_url, "username": s.username, "password": s.password,
                    "project_name": s.project_name, "user_domain_name": s.domain,
                    "project_domain_name": s.domain}
            auth_type = "password"
        else:
            auth = {"auth_url": self.auth_url, "application_credential_id": credential[0],
                    "application_credential_secret": credential[1]}
            auth_type = "v3applicationcredential"
        return {"auth": auth, "auth_type": auth_type, "region_name": s.region,
                "identity_api_version": 3, "interface": "public"}

    def write_clouds_yaml(self, path: Path, name: str = "simcloud",
                          credential: tuple[str, str] | None = None) -> Path:
        path = Path(path)
        path.write_text(yaml.safe_dump({"clouds": {name: self.cloud_config(credential)}}))
        return path


def start_server(port: int = 0, host: str = "127.0.0.1", settings: Settings | None = None,
                 seed: dict | None = None, **setting_values) -> SimServer:
    """Start a simulated cloud in a background thread; `port=0` picks a free port.

    `setting_values` override Settings fields (boot_delay=0.1, quotas={"instances": 100}).
    """
    settings = settings or Settings()
    settings.update(setting_values)
    server = SimServer(Store(settings), host, port)
    if seed:
        server.seed(seed)
    return server.start()
