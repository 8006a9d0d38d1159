"""The one place where the console and the deployer build boto3 sessions and clients.

Only the endpoint, the region and (locally) the credentials depend on the target: the same calls go to
real AWS and to the local AWS.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config

from stack.settings import Settings

# The local AWS accepts only the keys it wrote to this file of its state dir (shared-credentials format).
LOCAL_CREDENTIALS_FILE = "credentials"

# Settings own the endpoint: AWS_ENDPOINT_URL and the config file's endpoint_url are not consulted, so a
# shell that points at the local AWS cannot silently redirect a deploy meant for real AWS.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, ignore_configured_endpoint_urls=True)
# Presigned URLs in SigV4 (boto3 still makes SigV2 ones for S3 by default), which the local AWS verifies.
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4"))
# The connection check: one attempt, short timeouts (a retried refusal would hold every page for seconds).
_CHECK_CONFIG = _CONFIG.merge(
    Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=5)
)


_loader_lock = threading.Lock()
_loader: botocore.loaders.Loader | None = None


def _shared_loader() -> botocore.loaders.Loader:
    """One botocore data loader for every session: parsing the service models is most of the cost of a
    new session's clients (about 0.4 s for the deployer's services), and the loader caches them."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))
        return _loader


def _new_boto3_session(credentials_file: Path | None = None, **kwargs: Any) -> boto3.Session:
    core = botocore.session.get_session()
    if credentials_file is not None:  # this file only: no config file, no environment keys
        core.set_config_variable("credentials_file", str(credentials_file))
        core.set_config_variable("config_file", os.devnull)
    loader = _shared_loader()
    core.register_component("data_loader", loader)
    result = boto3.Session(botocore_session=core, **kwargs)
    with _loader_lock:  # boto3 appends its own data path to the loader on every session
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return result


def local_credentials_file(settings: Settings) -> Path:
    return Path(settings.local_state_dir) / LOCAL_CREDENTIALS_FILE


def session(settings: Settings) -> boto3.Session:
    """A session in the settings' region. For the local target: the local AWS's own credentials file
    (profile ``default``), never the environment's keys, which may be a real account's."""
    if settings.target == "local":
        path = local_credentials_file(settings)
        if path.exists():
            return _new_boto3_session(path, profile_name="default", region_name=settings.region)
    return _new_boto3_session(region_name=settings.region)


def client(settings: Settings, service: str, boto_session: boto3.Session | None = None) -> Any:
    """A client for ``service`` at ``settings.endpoint_url`` (None = the real AWS endpoint)."""
    boto_session = boto_session or session(settings)
    config = _S3_CONFIG if service == "s3" else _CONFIG
    return boto_session.client(service, endpoint_url=settings.endpoint_url, config=config)


# What an endpoint that does not answer raises: no connection, a timeout, a connection closed mid-call.
UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


class Connection(NamedTuple):
    """What the connection check found: ``message`` is one line for the user, the same on every page;
    ``detail`` the underlying error, if any."""

    ok: bool
    message: str
    detail: str = ""


def cannot_reach(settings: Settings) -> str:
    """The one message for an endpoint that does not answer (the connection check, and any call that finds
    the endpoint gone since)."""
    if settings.target == "local":
        return f"Cannot reach the local AWS at {settings.endpoint_url} — start it with `make run`."
    where = f" at {settings.endpoint_url}" if settings.endpoint_url else ""
    return (
        f"Cannot reach AWS in {settings.region}{where} — check the network, the region (ECOMMERCE_REGION) "
        "and the endpoint."
    )


def check_connection(settings: Settings) -> Connection:
    """Who we are on AWS, or whether the local AWS answers: one STS call, one attempt, short timeouts, so
    that a stopped local AWS or an unreachable network is reported at once."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        sts = session(settings).client("sts", endpoint_url=settings.endpoint_url, config=_CHECK_CONFIG)
        identity = sts.get_caller_identity()
    except NoCredentialsError as exc:
        if settings.target == "local":
            return Connection(
                False,
                f"No credentials for the local AWS at {local_credentials_file(settings)} — start it with "
                "`make run` (or set ECOMMERCE_LOCAL_STATE_DIR to its state dir).",
                str(exc),
            )
        return Connection(
            False,
            "No AWS credentials found — set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run `make run` for the local AWS.",
            str(exc),
        )
    except ClientError as exc:  # it answered, but refused us
        if settings.target == "local":
            return Connection(
                False,
                f"The local AWS at {settings.endpoint_url} refused the keys in "
                f"{local_credentials_file(settings)} ({error_code(exc)}) — is ECOMMERCE_LOCAL_STATE_DIR "
                "the state dir of the `make run` that serves it?",
                str(exc),
            )
        return Connection(
            False,
            f"AWS in {settings.region} refused the credentials ({error_code(exc)}) — renew them "
            "(e.g. `aws sso login`) or set AWS_PROFILE.",
            str(exc),
        )
    except UNREACHABLE as exc:
        return Connection(False, cannot_reach(settings), str(exc))
    except BotoCoreError as exc:  # e.g. a profile or SSO token that cannot be loaded
        where = "the local AWS" if settings.target == "local" else f"AWS in {settings.region}"
        return Connection(False, f"Cannot use {where}: {exc}", str(exc))
    return Connection(True, f"Connected · account {identity['Account']}")


# Step Functions execution statuses after which nothing more happens to a run.
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (``""`` for anything else)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def state_machine_arn(sfn: Any, name: str) -> str:
    """The ARN of the state machine called ``name`` (LookupError when it is not deployed)."""
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    raise LookupError(f"no state machine named {name!r}: is the pipeline deployed?")


# Codes of an endpoint that lacks the operation altogether (as opposed to refusing this request).
_UNSUPPORTED_CODES = frozenset(
    {"NotImplemented", "NotImplementedException", "UnknownOperationException", "InvalidAction"}
)


def is_unsupported(exc: BaseException) -> bool:
    """The endpoint does not implement the operation: in-process moto raises NotImplementedError, the moto
    server answers an HTML 500 page (AWS itself never answers API calls with HTML)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, NotImplementedError):
        return True
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return (
        error_code(exc) in _UNSUPPORTED_CODES
        or status == 501
        or (status == 500 and message.lstrip().lower().startswith("<!doctype html"))
    )
