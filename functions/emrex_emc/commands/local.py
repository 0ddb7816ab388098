"""``emrex-emc local``: the whole EMREX flow on this machine, no AWS account (see :mod:`emrex_emc.local.runner`)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run the whole flow on this machine (moto, real handlers, mock EMP, demo form and SIS)",
        description=(
            "Starts moto as the embedded AWS, the real Lambda handlers behind a local API Gateway, the outbox "
            "relay and registry refresh, a mock EMP, a demo enrolment form and a demo SIS, all on loopback. "
            "EMREX_API_TOKEN sets the enrolment API's bearer token, EMREX_ADMIN_TOKEN the admin token "
            "(DELETE /applicants/{applicant_id}); both are generated and printed when unset. Ctrl-C stops "
            "everything."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address every local server binds to (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8080, help="the EMC API's port (default: %(default)s)")
    parser.add_argument(
        "--registry",
        action="append",
        default=[],
        metavar="URL_OR_PATH",
        help=(
            "an https:// or file:// URL or a path of a registry (EWP catalogue, EMREG v1 or v2 JSON) to use instead "
            "of the local ones; repeat it to combine several in one chooser"
        ),
    )
    parser.add_argument(
        "--client-id",
        default="emc-local",
        metavar="ID",
        help="our EMREX 2.0 client id, as an EMP's EMREG would list it (default: %(default)s)",
    )
    parser.add_argument("--events-file", metavar="PATH", type=Path, help="append every event on the bus as a JSON line")
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        type=Path,
        help="where the mock EMP's key, the catalogue file and stack.json live (default: the repository's "
        ".local/); one running stack per folder",
    )
    parser.add_argument(
        "--registry-refresh-seconds",
        metavar="N",
        type=_positive_seconds,
        help="fetch the registry every N seconds, whatever its cache headers (default: 900, as deployed)",
    )
    parser.set_defaults(func=_run)


def _positive_seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds") from None
    if not 1 <= seconds <= 86400:
        raise argparse.ArgumentTypeError("must be between 1 and 86400 seconds")
    return seconds


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    from emrex_emc.local.runner import REGISTRY_REFRESH_SECONDS, start_local_stack

    refresh_seconds = args.registry_refresh_seconds or REGISTRY_REFRESH_SECONDS
    try:
        stack = start_local_stack(
            host=args.host,
            port=args.port,
            registries=args.registry,
            client_id=args.client_id,
            events_file=args.events_file,
            state_dir=args.state_dir,
            registry_refresh_seconds=refresh_seconds,
        )
    except (OSError, ValueError) as exc:
        print(f"emrex-emc local: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        width = max(len(label) for label, _ in [*stack.urls.lines(), ("Admin bearer token", "")])
        print("\nEMREX local stack is ready:", flush=True)
        for label, url in stack.urls.lines():
            print(f"  {label:<{width}}  {url}", flush=True)
        if stack.events_file is not None:
            print(f"  {'Events file':<{width}}  {stack.events_file}", flush=True)
        if stack.catalogue_file is not None:
            refresh = f"refreshed every {refresh_seconds} s"
            print(f"  {'Catalogue file':<{width}}  {stack.catalogue_file}  ({refresh})", flush=True)
        print(f"  {'Health':<{width}}  {stack.urls.api}/health", flush=True)
        print(f"  {'EMREG client record':<{width}}  {stack.urls.api}/.well-known/emreg-client.json", flush=True)
        print(f"  {'API bearer token':<{width}}  {stack.api_token}  (local only; EMREX_API_TOKEN sets it)", flush=True)
        print(
            f"  {'Admin bearer token':<{width}}  {stack.admin_token}  (local only; EMREX_ADMIN_TOKEN sets it)",
            flush=True,
        )
        print("\nPress Ctrl-C to stop.", flush=True)
        # A signal may reach another thread than the main one: the main thread then runs the Python handler
        # only when it next runs bytecode, so it must wake up now and then rather than block for good.
        while not stop.wait(0.5):
            pass
        print("Stopping...", flush=True)
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
