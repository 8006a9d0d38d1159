"""Step Functions: the state machine's ASL is interpreted, and its service calls come back to this server."""

from __future__ import annotations

import os
import uuid
from typing import Any

from localaws.context import Context


def install(ctx: Context) -> None:
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    # moto interprets ASL only when configured to, and calls services back on localhost:$MOTO_PORT.
    sfn_config = default_user_config.setdefault("stepfunctions", {})
    previous_execute = sfn_config.get("execute_state_machine")
    sfn_config["execute_state_machine"] = True
    previous_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(ctx.port)

    def restore() -> None:
        if previous_execute is None:
            sfn_config.pop("execute_state_machine", None)
        else:
            sfn_config["execute_state_machine"] = previous_execute
        if previous_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = previous_port

    ctx.patcher.on_undo(restore)
    original_start_execution = StepFunctionsParserBackend.start_execution

    # moto names an unnamed execution "None" (ARN …:None); AWS generates a unique name.
    def start_execution(
        self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original_start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    ctx.patcher.set(StepFunctionsParserBackend, "start_execution", start_execution)
