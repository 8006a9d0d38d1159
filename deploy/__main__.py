"""``python -m deploy plan|up|status|down|runs|publish RUN_ID [--target local|aws] [--region …] …``.

``down`` asks for the target's name to be typed unless ``--yes``; it keeps the data buckets and the Glue
database unless ``--delete-data``. ``runs`` lists the kept runs; ``publish RUN_ID`` makes one of them live
(a rollback when its batch is older), after asking for the run id to be typed unless ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from deploy import deployer, rollback
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
    parser.add_argument("command", choices=("plan", "up", "status", "down", "runs", "publish"))
    parser.add_argument("run_id", nargs="?", help="publish: the kept run to make live (see `runs`)")
    parser.add_argument(
        "--target", choices=("local", "aws"), default=None, help="default: ECOMMERCE_TARGET or local"
    )
    parser.add_argument("--region", default=None)
    parser.add_argument("--prefix", default=None, help="bucket name prefix (AWS only; e.g. the account id)")
    parser.add_argument("--delete-data", action="store_true", help="down: also empty and delete the buckets")
    parser.add_argument("--yes", action="store_true", help="down, publish: do not ask for confirmation")
    return parser


def main(
    argv: list[str] | None = None,
    out: TextIO | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.command == "publish") != (args.run_id is not None):
        parser.error("a run id goes with publish, and only with publish")
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
        elif args.command == "runs":
            print_runs(rollback.kept_runs(settings), out)
        elif args.command == "publish":
            return publish(settings, args.run_id, args.yes, out, ask)
        else:
            if not args.yes:
                answer = ask(deployer.down_prompt(settings, args.delete_data) + " ")
                if not deployer.down_confirmed(settings, answer):
                    print("down: not confirmed, nothing deleted", file=out)
                    return 1
            changes = deployer.down(settings, delete_data=args.delete_data, progress=show)
            print(f"down: {deployer.summary(changes)}", file=out)
    except (deployer.DeployError, rollback.RollbackError, BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def print_runs(runs: list[rollback.KeptRun], out: TextIO) -> None:
    if not runs:
        print("runs: none kept yet (no run has written its data)", file=out)
        return
    print(
        f"{'':2}{'RUN ID':<34}{'BATCH TIME':<26}{'ROWS':>10}{'RETURNED':>10}  {'PUBLISHED':<10}NOTE", file=out
    )
    for run in runs:
        rows = "–" if run.rows is None else f"{run.rows:,}"
        returned = "–" if run.returned_lines is None else f"{run.returned_lines:,}"
        mark = "* " if run.live else "  "
        published = "yes" if run.published else "no"
        columns = f"{run.run_id:<34}{run.batch_time or '–':<26}{rows:>10}{returned:>10}  {published:<10}"
        print(f"{mark}{columns}{run.note}", file=out)
        for item in run.inputs:
            print(f"{'':6}{item.describe()}", file=out)
    print("* live: the run the table points at now", file=out)


def publish(settings: Settings, run_id: str, yes: bool, out: TextIO, ask: Callable[[str], str]) -> int:
    change = rollback.plan_make_live(settings, run_id)
    print(change.warning(), file=out)
    if not yes and ask(f"Type the run id ({run_id}) to make it live: ").strip() != run_id:
        print("publish: not confirmed, nothing changed", file=out)
        return 1
    done = rollback.make_live(settings, run_id, rollback.cli_user())
    previous = f", in place of {done.previous_run_id}" if done.previous_run_id else ""
    print(f"publish: run {run_id} is live{previous}; the audit log has the entry", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
