"""``python -m bot.local``: the offline sandbox (or, with Slack tokens, Socket Mode).

Offline (default): moto + the Slack stand-in + a page on http://127.0.0.1:8800/.
With ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN`` set: the same Bolt app connects to a real
Slack workspace through Socket Mode (see the README), AWS still on moto unless configured.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import webbrowser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.local", description=__doc__)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address of the page (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8800,
        help="port of the page (default 8800; 0: any free port; `make sandbox PORT=…`)",
    )
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    parser.add_argument(
        "--socket-mode",
        action="store_true",
        default=bool(os.environ.get("SLACK_APP_TOKEN") and os.environ.get("SLACK_BOT_TOKEN")),
        help="use a real Slack workspace (default if SLACK_APP_TOKEN and SLACK_BOT_TOKEN are set)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's access log

    from bot.local.sandbox import Sandbox, SandboxError, wait_forever

    try:
        sandbox = Sandbox(host=args.host, port=args.port, socket_mode=args.socket_mode).start()
    except SandboxError as exc:  # e.g. the port is busy: one line with the fix, no traceback
        print(f"sfn-approvals sandbox: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        print(f"sfn-approvals sandbox: {sandbox.url}", flush=True)
        if args.socket_mode:
            where = "your Slack workspace (Socket Mode)"
        else:
            where = "the Slack stand-in on 127.0.0.1"
        print(f"  Slack: {where}; Ctrl-C stops everything.", flush=True)
        if args.open:
            webbrowser.open(sandbox.url)
        wait_forever(sandbox)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
