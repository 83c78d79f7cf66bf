"""Export the audit trail as JSON Lines.

    python -m bot.audit export --since 2026-11-01T00:00:00Z [--until …] [--limit N] [-o file]

Reads ``APPROVALS_TABLE`` (and boto3's usual AWS settings). One JSON object per line, oldest
first: ``{"at", "approval_id", "event", "actor": {"id", "name"} | null, "title", "detail"}``.
Audit items never hold the task token.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from bot.models import parse_time


def export(
    out: TextIO,
    *,
    table: str,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> int:
    from bot.store import ApprovalStore
    from bot.wiring import dynamodb_client

    store = ApprovalStore(dynamodb_client(), table)
    count = 0
    for event in store.audit(since=since, until=until, limit=limit):
        out.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        count += 1
    return count


def _time(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: ISO 8601 with a timezone, {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m bot.audit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export_cmd = commands.add_parser("export", help="write audit events as JSON Lines")
    export_cmd.add_argument("--since", type=_time, help="first moment (ISO 8601, with timezone)")
    export_cmd.add_argument("--until", type=_time, help="last moment (ISO 8601, with timezone)")
    export_cmd.add_argument("--limit", type=int, help="at most this many events")
    export_cmd.add_argument("-o", "--output", help="file to write (default: standard output)")
    export_cmd.add_argument(
        "--table", default=os.environ.get("APPROVALS_TABLE"), help="default: $APPROVALS_TABLE"
    )
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("APPROVALS_TABLE must be set (or pass --table)")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            count = export(
                out, table=args.table, since=args.since, until=args.until, limit=args.limit
            )
    else:
        count = export(
            sys.stdout, table=args.table, since=args.since, until=args.until, limit=args.limit
        )
    print(f"{count} audit events exported", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
