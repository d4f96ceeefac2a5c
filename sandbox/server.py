"""Start the Green Button Sandbox: `green-button-sandbox` (or `python run.py`) `[--host H] [--port P]
[--database URL] [--seed N] [--customers N] [--server granian|waitress] [--workers N] [--threads N]
[--reset] [--no-demo-app] [--demo-port P]`.

The sandbox is served by granian with several worker processes (sandbox.serving.processes), which
has wheels for Linux, macOS and Windows; `--server waitress` serves it from one process of threads
instead. The demo third-party app runs beside it under Waitress. Werkzeug's development server is
not for this."""

from __future__ import annotations

import argparse
import gc
import sys
import threading

from sandbox.core.config import SERVERS, is_wildcard
from sandbox.serving.served import Served


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="green-button-sandbox", description="Green Button Sandbox: a fake utility speaking Green Button (ESPI)."
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; SANDBOX_HOST)")
    p.add_argument("--port", type=int, help="port, 0 for any free one (default 8080; SANDBOX_PORT)")
    p.add_argument(
        "--database",
        help="SQLAlchemy URL or SQLite file path (default: sandbox.db in the instance folder; SANDBOX_DATABASE_URL)",
    )
    p.add_argument("--seed", type=int, help="world seed (default 42 from seed_data/world.toml; SANDBOX_SEED)")
    p.add_argument("--customers", type=int, help="generated customers per utility (SANDBOX_CUSTOMERS)")
    p.add_argument(
        "--server",
        choices=SERVERS,
        help="granian: worker processes (default); waitress: one process of threads (SANDBOX_SERVER)",
    )
    p.add_argument(
        "--workers", type=int, help="granian's worker processes (default: the CPUs, 2 to 4; SANDBOX_WORKERS)"
    )
    p.add_argument("--threads", type=int, help="request threads of each process (default 8; SANDBOX_THREADS)")
    p.add_argument(
        "--public-url",
        help="the address its users reach it at, e.g. https://gb.example.org: the base of "
        "every URL it writes and a host it answers to (default: the listening address; SANDBOX_PUBLIC_URL)",
    )
    p.add_argument(
        "--allowed-hosts",
        help="further host names it answers to, comma-separated (.example.org admits "
        "subdomains; SANDBOX_ALLOWED_HOSTS)",
    )
    p.add_argument(
        "--proxy-hops",
        type=int,
        help="reverse proxies in front whose X-Forwarded-* headers are believed (default 0; SANDBOX_PROXY_HOPS)",
    )
    p.add_argument("--reset", action="store_true", help="rebuild the world even if the database holds one")
    p.add_argument("--no-demo-app", action="store_true", help="do not start the demo third-party app")
    p.add_argument(
        "--demo-port", type=int, help="the demo app's port, 0 for any free one (default 8081; SANDBOX_DEMO_PORT)"
    )
    args = p.parse_args(argv)
    if args.demo_port is not None and not 0 <= args.demo_port <= 65535:
        p.error("argument --demo-port: must be between 0 and 65535")
    if args.port is not None and not 0 <= args.port <= 65535:
        p.error("argument --port: must be between 0 and 65535")
    if args.customers is not None and args.customers < 0:
        p.error("argument --customers: must be zero or more")
    if args.workers is not None and not 1 <= args.workers <= 64:
        p.error("argument --workers: must be between 1 and 64")
    if args.threads is not None and not 1 <= args.threads <= 256:
        p.error("argument --threads: must be between 1 and 256")
    if args.proxy_hops is not None and not 0 <= args.proxy_hops <= 10:
        p.error("argument --proxy-hops: must be between 0 and 10")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["listen"]:  # green-button-sandbox listen: a client of a sandbox, no server
        from sandbox.listen import main as listen

        return listen(argv[1:])
    args = parse_args(argv)
    from sandbox import create_app
    from sandbox.core.config import ConfigError
    from sandbox.core.db import SchemaError
    from sandbox.synth.world import SeedDataError

    flags = {
        "HOST": args.host,
        "PORT": args.port,
        "DATABASE_URL": args.database,
        "SEED": args.seed,
        "CUSTOMERS": args.customers,
        "SERVER": args.server,
        "WORKERS": args.workers,
        "THREADS": args.threads,
        "RESET": args.reset or None,
        "DEMO_APP": False if args.no_demo_app else None,
        "DEMO_PORT": args.demo_port,
        "PUBLIC_URL": args.public_url,
        "ALLOWED_HOSTS": args.allowed_hosts,
        "PROXY_HOPS": args.proxy_hops,
    }
    try:
        app = create_app(flags)
    except (SeedDataError, ConfigError, SchemaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cfg = app.extensions["sandbox"].config
    try:
        server = _bind(app, cfg, flags)
    except (OSError, ValueError) as exc:  # ValueError: a host name that does not resolve
        print(
            f"error: cannot listen on {cfg['HOST']}:{cfg['PORT']}: {getattr(exc, 'strerror', None) or exc} "
            "(--port moves it, e.g. --port 8090; --demo-port moves the demo app's, --port 0 and --demo-port 0 "
            "take free ones)",
            file=sys.stderr,
        )
        return 1
    listeners = server.listeners
    urls = [f"http://{h if ':' not in h else f'[{h}]'}:{p}" for h, p in listeners]
    # notifications name the public URL, else the address listened at (every interface: loopback's)
    listen_url = (urls[0] if not is_wildcard(cfg["HOST"]) else f"http://127.0.0.1:{listeners[0][1]}") + "/"
    if is_wildcard(cfg["HOST"]) and not cfg["PUBLIC_URL"]:
        print(
            f"note: listening on every interface without --public-url: it answers to loopback names only, and "
            f"notifications name {listen_url}; give --public-url (SANDBOX_PUBLIC_URL) with the address others "
            "reach it at",
            file=sys.stderr,
        )
    demo = None
    if cfg["DEMO_APP"]:
        try:
            demo = _demo_server(cfg, urls[0], listeners[0][1])
        except (OSError, ValueError) as exc:
            server.close()
            print(
                f"error: cannot listen on {cfg['HOST']}:{cfg['DEMO_PORT']} for the demo app: "
                f"{getattr(exc, 'strerror', None) or exc} (--demo-port moves it, --no-demo-app turns it off)",
                file=sys.stderr,
            )
            return 1
    served = Served(listen_url, demo[1] + "/notify" if demo else None)
    served.apply(app)
    # what start-up made lives as long as the process: kept out of the garbage collector's passes, so a
    # process's first calls pay no full collection of it (and forked workers share its pages untouched)
    gc.freeze()
    if demo:  # registered before the running line: whoever reads it finds the demo app notified
        from sandbox.services.world import set_demo_notify_uri

        set_demo_notify_uri(app.extensions["sandbox"].db, served.demo_notify_uri)
    notifier = app.extensions["notifications"]

    def on_ready() -> None:
        notifier.start()
        if demo:
            threading.Thread(target=demo[0].run, name="demo-app", daemon=True).start()
        _print_running(app, urls, demo[1] if demo else None)

    try:
        return server.serve(served, on_ready)
    finally:
        if demo:
            demo[0].close()
        notifier.stop()  # the POSTs under way finish; nothing claimed is lost


def _bind(app, cfg: dict, flags: dict):
    """The sandbox's server, holding its port: granian's worker processes, or Waitress's threads."""
    if cfg["SERVER"] == "granian":
        from sandbox.serving.processes import Processes, default_workers

        return Processes(app, cfg, flags, workers=cfg["WORKERS"] or default_workers(), threads=cfg["THREADS"])
    from sandbox.serving.threads import Threads

    return Threads(app, cfg)


def _print_running(app, urls: list[str], demo_url: str | None) -> None:
    """The running line, with what a user needs to start: in one write, so whoever reads it has
    the demo credentials with it."""
    from sandbox.services.world import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, OWN_CLIENTS
    from sandbox.synth.people import DEMO_PASSWORD, DEMO_USERNAME

    sb = app.extensions["sandbox"]
    cfg, world = sb.config, sb.world
    print(
        "\n".join(
            [
                f"Green Button Sandbox running at {urls[0]}",
                *(f"  also at {u}" for u in urls[1:]),
                *([f"Demo third-party app running at {demo_url}"] if demo_url else []),
                f"  utilities: {', '.join(f'{u.slug} (/dc/{u.slug}/)' for u in world.utilities)}",
                f"  customer login in every utility: {DEMO_USERNAME} / {DEMO_PASSWORD}",
                f"  third party: client_id={DEMO_CLIENT_ID} client_secret={DEMO_CLIENT_SECRET}",
                *(
                    f"  {name.lower()} client (client credentials): client_id={cid} client_secret={secret}"
                    for cid, secret, _, name in OWN_CLIENTS
                ),
                "  utility staff: staff / staff at /dc/<slug>/admin",
                f"  control API: {urls[0]}/sandbox-api/ admin key: {sb.admin_key}",
                f"  seed {world.seed}, database {cfg['DATABASE_URL']}",
            ]
        ),
        flush=True,
    )


def _demo_server(cfg: dict, sandbox_url: str, sandbox_port: int):
    """The demo third-party app's server (not yet running) and its URL. It reaches the utilities on
    loopback (a container maps the same ports), as the browser that follows its redirects does."""
    from sandbox.demo.app import create_demo_app
    from sandbox.serving import threads
    from sandbox.web.hosts import HostGuard, trusted_hosts
    from sandbox.web.memory import ReturnsMemory

    if is_wildcard(cfg["HOST"]):
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    demo = create_demo_app(sandbox_url)
    # served beside the sandbox, it answers the same hosts and hands back an upload's memory the same way
    demo.wsgi_app = ReturnsMemory(HostGuard(demo.wsgi_app, trusted_hosts(cfg)))  # type: ignore[method-assign]
    server = threads.server(demo, cfg, cfg["DEMO_PORT"], 4, "DemoEnergyApp")
    host = cfg["HOST"] if not is_wildcard(cfg["HOST"]) else "127.0.0.1"
    port = threads.listeners(server, host)[0][1]
    return server, f"http://{host if ':' not in host else f'[{host}]'}:{port}"
