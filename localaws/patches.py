"""``apply_all``: one installer per emulated service, in the order the pipeline needs them."""

from __future__ import annotations

import dataclasses

from localaws import athena, awslambda, events, glue, lockdown, s3, sns, stepfunctions
from localaws.context import Context


@dataclasses.dataclass
class LocalPatches:
    ctx: Context
    lambdas: awslambda.LambdaRunner
    s3_events: s3.S3Events
    glue: glue.GlueRunner
    athena: athena.AthenaEngine
    sns: sns.SnsDelivery

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once pending S3 event deliveries, Glue runs and emails are done."""
        return all(w.wait_idle(timeout) for w in (self.s3_events, self.glue.worker, self.sns.worker))

    def undo(self) -> None:
        """Stop the workers (Spark too, unless told to keep it) and restore moto as it was."""
        self.ctx.patcher.undo()


def apply_all(ctx: Context, *, stop_spark: bool = True) -> LocalPatches:
    """Install every service's patches into moto in this process."""
    lockdown.install(ctx)
    lambdas = awslambda.install(ctx)
    s3_events = s3.install(ctx)
    stepfunctions.install(ctx)
    runner = glue.install(ctx, stop_spark=stop_spark)
    engine = athena.install(ctx)
    delivery = sns.install(ctx)
    events.install(ctx)
    return LocalPatches(ctx, lambdas, s3_events, runner, engine, delivery)
