"""Lambda: the deployed zip runs in a subprocess, like the Python runtime would run it.

Without Docker moto runs no Lambda code. Every invocation path (Invoke, S3 notification, Step Functions task)
ends in ``LambdaFunction._invoke_lambda``, which ``install`` replaces.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from localaws import codec
from localaws.context import Context
from localaws.credentials import Credentials
from localaws.plumbing import each_backend, log, utcnow

# Runs inside the function's subprocess: import the handler, read the event on stdin, write the result
# (or the error as the Lambda runtime reports it) as JSON on stdout. Handler prints go to stderr = logs.
BOOTSTRAP = r"""
import importlib, json, os, sys, time, traceback, uuid
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
out, sys.stdout = sys.stdout, sys.stderr

def finish(payload, code):
    out.write(json.dumps(payload)); out.flush(); sys.exit(code)

def error(kind, message, exc=None):
    frames = traceback.extract_tb(exc.__traceback__) if exc else []
    trace = traceback.format_list([f for f in frames if f.filename != "<string>"])  # not this bootstrap
    traceback.print_exception(exc) if exc else print(message, file=sys.stderr)
    finish({"errorType": kind, "errorMessage": message, "stackTrace": trace}, 1)

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    invoked_function_arn = os.environ["_FUNCTION_ARN"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    aws_request_id = os.environ["_REQUEST_ID"]
    log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
    _deadline = float(os.environ["_DEADLINE"])
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
event = json.loads(sys.stdin.read() or "{}")
try:
    module = importlib.import_module(module_name)
except Exception as exc:
    error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc)
handler = getattr(module, function_name, None)
if not callable(handler):
    error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
try:
    result = handler(event, Context())
except Exception as exc:
    error(type(exc).__name__, str(exc), exc)
try:
    text = json.dumps(result)
except (TypeError, ValueError) as exc:
    error("Runtime.MarshalError", f"Unable to marshal response: {exc}", exc)
out.write(text); out.flush()
"""


def code_digest(fn: Any) -> str:
    """The zip's SHA-256 in hex: moto's CodeSha256 (base64) when it has one, else computed."""
    try:
        return base64.b64decode(fn.code_sha_256, validate=True).hex()
    except (ValueError, TypeError):
        return hashlib.sha256(fn.code_bytes).hexdigest()


class LambdaRunner:
    """Runs a moto LambdaFunction's zip like the Python runtime would, one subprocess per invocation."""

    def __init__(self, state_dir: Path, endpoint_url: str, credentials: Credentials) -> None:
        self.code_root = state_dir / "lambda"
        self.endpoint_url = endpoint_url
        self.credentials = credentials
        self._lock = threading.Lock()

    def code_dir(self, fn: Any) -> Path:
        code = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise RuntimeError(f"function {fn.function_name} has no zip code (only zip packages run locally)")
        target = self.code_root / code_digest(fn)
        with self._lock:
            if not target.exists():
                self.code_root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=self.code_root, prefix=".extract-"))
                with zipfile.ZipFile(io.BytesIO(code)) as archive:
                    archive.extractall(staging)
                staging.rename(target)
        return target

    def environment(self, fn: Any, code_dir: Path, request_id: str, deadline: float) -> dict[str, str]:
        stream = f"{utcnow():%Y/%m/%d}/[{fn.version}]{request_id.replace('-', '')}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.code_root)),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": fn.handler or "",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "_FUNCTION_ARN": fn.function_arn,
            "_REQUEST_ID": request_id,
            "_DEADLINE": str(deadline),
        }
        env.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        # Set last: the function always talks to this local AWS, never to a real account.
        env.update(
            {
                "AWS_REGION": fn.region,
                "AWS_DEFAULT_REGION": fn.region,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                **self.credentials.env(),
            }
        )
        return env

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        if isinstance(event, bytes | str):
            event = json.loads(event or "{}")
        request_id = str(uuid.uuid4())
        timeout = float(fn.timeout or 3)
        started = time.monotonic()
        try:
            code_dir = self.code_dir(fn)
        except Exception as exc:
            return self._finish(fn, request_id, started, {"errorType": "Runtime.InvalidEntrypoint",
                                                          "errorMessage": str(exc)}, "")  # fmt: skip
        env = self.environment(fn, code_dir, request_id, time.time() + timeout)
        try:
            done = subprocess.run(  # noqa: S603  (this interpreter and our bootstrap; the zip is the owner's)
                [sys.executable, "-I", "-c", BOOTSTRAP],
                input=json.dumps(event).encode(),
                capture_output=True,
                cwd=code_dir,
                env=env,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            logs = (exc.stderr or b"").decode("utf-8", "replace")
            message = (
                f"{utcnow():%Y-%m-%dT%H:%M:%S.%fZ} {request_id} Task timed out after {timeout:.2f} seconds"
            )
            return self._finish(fn, request_id, started, {"errorType": "Sandbox.Timedout",
                                                          "errorMessage": message}, logs)  # fmt: skip
        logs = done.stderr.decode("utf-8", "replace")
        payload = done.stdout.decode("utf-8", "replace")
        if done.returncode == 0:
            return self._finish(fn, request_id, started, payload, logs)
        try:
            error = json.loads(payload)
            if not isinstance(error, dict) or "errorType" not in error:
                raise ValueError
        except ValueError:
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                f"exit status {done.returncode}",
            }
        return self._finish(fn, request_id, started, error, logs)

    def _finish(
        self, fn: Any, request_id: str, started: float, result: str | dict, logs: str
    ) -> tuple[str, bool, str]:
        failed = isinstance(result, dict)
        payload = json.dumps(result) if failed else result
        millis = (time.monotonic() - started) * 1000
        report = f"REPORT RequestId: {request_id}\tDuration: {millis:.2f} ms"
        full_logs = f"START RequestId: {request_id}\n{logs.rstrip()}\nEND RequestId: {request_id}\n{report}"
        with contextlib.suppress(Exception):  # CloudWatch Logs is a convenience here
            fn.logs_backend.ensure_log_group(fn.logs_group_name)
            fn.save_logs(full_logs)
        if failed:
            log.warning("lambda %s failed in %.0f ms: %s: %s", fn.function_name, millis,
                        result.get("errorType"), result.get("errorMessage"))  # fmt: skip
        else:
            log.info("lambda %s ok in %.0f ms", fn.function_name, millis)
        return payload, failed, full_logs


def install(ctx: Context) -> LambdaRunner:
    from moto.awslambda.models import LambdaFunction

    runner = LambdaRunner(ctx.state_dir, ctx.endpoint_url, ctx.credentials)
    # Without Docker moto runs no Lambda code; run the deployed zip in a subprocess.
    ctx.patcher.set(LambdaFunction, "_invoke_lambda", lambda fn, event=None: runner.invoke(fn, event))

    # /moto-api/data.json reads every public attribute; docker_client raises DockerException (500): absent.
    def no_docker(fn: Any) -> Any:
        raise AttributeError("the local AWS runs Lambda code without Docker")

    ctx.patcher.set(LambdaFunction, "docker_client", property(no_docker))
    original_invoke = LambdaFunction.invoke

    # An exception that escapes the handler is an "Unhandled" function error on AWS; moto says "Handled".
    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        result = original_invoke(fn, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return result

    ctx.patcher.set(LambdaFunction, "invoke", invoke)
    return runner


# ------------------------------------------------------------------------------------------ durable state


class LambdaState:
    """Functions (configuration, zip in a blob named by its hash, published versions, resource policy).

    Restored through ``create_function`` (IAM first: it checks the role), then the generated fields are
    set back (LastModified, the code location, the policy)."""

    service = "lambda"

    def __init__(self, store: Any) -> None:
        self.store = store

    def _zip_blob(self, fn: Any) -> str:
        """The zip's blob, named by its hash (written once: deploys that change nothing write nothing)."""
        name = code_digest(fn)
        if not self.store.blob_path(name).exists():
            self.store.write_blob([fn.code_bytes], name=name)
        return name

    def records(self) -> dict[tuple[str, str], str]:
        from moto.awslambda.models import lambda_backends

        records: dict[tuple[str, str], str] = {}
        for account, region, backend in each_backend(lambda_backends):
            for name, group in list(backend._lambdas._functions.items()):
                fn = group["latest"]
                if not fn.code_bytes:
                    continue  # only zip packages run here
                spec = {
                    "FunctionName": fn.function_name, "Role": fn.role, "Handler": fn.handler,
                    "Runtime": fn.run_time, "Description": fn.description, "Timeout": fn.timeout,
                    "MemorySize": fn.memory_size, "PackageType": fn.package_type,
                    "Environment": {"Variables": fn.environment_vars}, "Tags": fn.tags,
                    "Architectures": fn.architectures, "TracingConfig": fn.tracing_config,
                    "EphemeralStorage": {"Size": fn.ephemeral_storage}, "KMSKeyArn": fn.kms_key_arn,
                    "Layers": [layer["Arn"] for layer in fn.layers], "VpcConfig": fn._vpc_config,
                    "ReservedConcurrentExecutions": fn.reserved_concurrency,
                }  # fmt: skip
                records[("function", f"{account}/{region}/{name}")] = codec.dumps({
                    "account": account, "region": region, "spec": spec, "zip": self._zip_blob(fn),
                    "generated": {
                        "last_modified": fn.last_modified, "state": fn.state, "code_uuid": fn.code["UUID"],
                        "code_s3key": fn.code["S3Key"], "code_or_config_updated": fn.code_or_config_updated,
                        "policy_revision": fn.policy.revision, "policy_statements": fn.policy.statements,
                    },
                    "versions": [{"version": v.version, "last_modified": v.last_modified,
                                  "description": v.description, "zip": self._zip_blob(v)}
                                 for v in group["versions"]],
                })  # fmt: skip
        return records

    def live_blobs(self) -> set[str]:
        """The blobs of every function's and version's zip, as moto holds them now."""
        from moto.awslambda.models import lambda_backends

        return {
            code_digest(fn)
            for _, _, backend in each_backend(lambda_backends)
            for group in list(backend._lambdas._functions.values())
            for fn in [group["latest"], *group["versions"]]
            if fn.code_bytes
        }

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.awslambda.models import _zipfile_content, lambda_backends

        for body in records.values():
            data = json.loads(body)
            backend = lambda_backends[data["account"]][data["region"]]
            spec = {k: v for k, v in data["spec"].items() if v is not None}
            code = self.store.blob_path(data["zip"]).read_bytes()
            fn = backend.create_function({**spec, "Code": {"ZipFile": base64.b64encode(code).decode()}})
            generated = data["generated"]
            fn.last_modified, fn.state = generated["last_modified"], generated["state"]
            fn.code["UUID"], fn.code["S3Key"] = generated["code_uuid"], generated["code_s3key"]
            fn.code_or_config_updated = generated["code_or_config_updated"]
            fn.policy.revision, fn.policy.statements = (
                generated["policy_revision"],
                generated["policy_statements"],
            )
            group = backend._lambdas._functions[fn.function_name]
            for stored in data["versions"]:  # as LambdaStorage.publish_version, without its side effects
                version = copy.copy(fn)
                version_code = self.store.blob_path(stored["zip"]).read_bytes()
                if version_code != code:
                    version.code_bytes, version.code_size, version.code_sha_256, version.code_digest = (
                        _zipfile_content(base64.b64encode(version_code))
                    )
                version.set_version(int(stored["version"]))
                version.last_modified, version.description = stored["last_modified"], stored["description"]
                group["versions"].append(version)
                backend._lambdas._arns[version.function_arn] = version
