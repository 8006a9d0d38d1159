"""``python -m deploy plan|up|status|down [--target local|aws] [--region …] [--prefix …]``.

``down`` asks for the target's name to be typed unless ``--yes``; it keeps the data buckets and the Glue
database unless ``--delete-data``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from deploy import deployer
from stack.settings import Settings


def build_settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: value
        for name, value in (("target", args.target), ("region", args.region), ("bucket_prefix", args.prefix))
        if value is not None
    }
    return Settings.from_env(**overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description="Deploy the e-commerce ETL pipeline."
    )
    parser.add_argument("command", choices=("plan", "up", "status", "down"))
    parser.add_argument(
        "--target", choices=("local", "aws"), default=None, help="default: ECOMMERCE_TARGET or local"
    )
    parser.add_argument("--region", default=None)
    parser.add_argument("--prefix", default=None, help="bucket name prefix (AWS only; e.g. the account id)")
    parser.add_argument("--delete-data", action="store_true", help="down: also empty and delete the buckets")
    parser.add_argument("--yes", action="store_true", help="down: do not ask for confirmation")
    return parser


def main(
    argv: list[str] | None = None,
    out: TextIO | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    settings = build_settings(args)

    def show(change: deployer.Change) -> None:
        print(change, file=out, flush=True)

    where = settings.endpoint_url or "AWS"
    print(f"{args.command}: target {settings.target}, region {settings.region}, endpoint {where}", file=out)
    try:
        if args.command == "plan":
            changes = deployer.plan(settings)
            for change in changes:
                show(change)
            print(f"plan: {deployer.summary(changes)}", file=out)
        elif args.command == "up":
            changes = deployer.up(settings, progress=show)
            print(f"up: {deployer.summary(changes)}", file=out)
        elif args.command == "status":
            for row in deployer.status(settings):
                mark = "exists " if row["exists"] else "missing"
                detail = f"  ({row['detail']})" if row["detail"] and row["exists"] else ""
                print(f"{mark} {row['resource']}{detail}", file=out)
        else:
            if not args.yes:
                answer = ask(deployer.down_prompt(settings, args.delete_data) + " ")
                if not deployer.down_confirmed(settings, answer):
                    print("down: not confirmed, nothing deleted", file=out)
                    return 1
            changes = deployer.down(settings, delete_data=args.delete_data, progress=show)
            print(f"down: {deployer.summary(changes)}", file=out)
    except (deployer.DeployError, BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
