"""The one place where the console and the deployer build boto3 sessions and clients.

Only the endpoint, the region and (locally) the credentials depend on the target: the same calls go to
real AWS and to the local AWS.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import boto3
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


def check_connection(settings: Settings) -> tuple[bool, str]:
    """(ok, message) for the sidebar: who we are on AWS, or whether the local AWS answers."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        identity = client(settings, "sts").get_caller_identity()
    except NoCredentialsError:
        if settings.target == "local":
            return False, (
                f"No credentials for the local AWS at {local_credentials_file(settings)}: "
                "start it with `make run` (or set ECOMMERCE_LOCAL_STATE_DIR to its state dir)."
            )
        return False, (
            "No AWS credentials found. Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run `make run` for the local AWS."
        )
    except (BotoCoreError, ClientError) as exc:
        where = settings.endpoint_url or f"AWS in {settings.region}"
        hint = " Is `make run` running?" if settings.target == "local" else ""
        return False, f"Cannot reach {where}: {exc}.{hint}"
    return True, f"Connected · account {identity['Account']}"


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
