"""FC as ``snapstack hook`` sees it: where it is, who calls it, submit one async invocation, read its status.

- Endpoint: ``--endpoint`` as given, else ``https://<accountId>.<region>.fc.aliyuncs.com``
  (``<region>-internal`` from inside the region's VPC), FACTS.md section 6.
- Credentials: the ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET`` / ``ALIBABA_CLOUD_SECURITY_TOKEN``
  variables, read as ``snapstack.ecs.credentials`` reads them (the first link of the official
  chain, without importing it: ``alibabacloud_credentials`` costs ~0.3 s of start-up); else the
  official ``alibabacloud_credentials`` chain (``aliyun`` CLI profile, ``~/.alibabacloud``
  profile, OIDC, ECS RAM role, credentials URI); ``--profile`` names an ``aliyun`` CLI profile.
- Submit: ``fc2.Client.invoke_function`` with ``x-fc-invocation-type: Async`` and
  ``x-fc-stateful-async-invocation-id``; FC's duplicate answer is "already submitted".
- Status: fc2 2.5.2 has no call for GetStatefulAsyncInvocation, so it is signed with fc2's own
  signer (``fc2.Client.auth.sign_request``) and sent with requests, fc2's HTTP library, to the path
  the official FC 2.0 Java SDK uses (``.../stateful-async-invocations/{id}``).
"""

from __future__ import annotations

import email.utils
import os
from dataclasses import dataclass
from typing import Any

from devkit.hook.errors import HookError, from_answer, from_exception, is_duplicate
from snapstack.ecs.credentials import Credentials, CredentialsNotFound, resolve_credentials

API_VERSION = "2016-08-15"


@dataclass(frozen=True)
class Submission:
    """FC's answer to the submit: accepted now, or already accepted before."""

    already_submitted: bool
    request_id: str
    code: str = ""  # FC's code for the duplicate answer


def fc_endpoint(endpoint: str | None, account_id: str | None, region: str | None, *, internal: bool) -> str:
    """The FC endpoint to call; ``HookError("usage")`` when neither form is given."""
    if endpoint:
        return endpoint
    if not account_id or not region:
        raise HookError(
            "usage",
            "say where FC is: --endpoint URL, or --account-id and --region "
            "(or ALIBABA_CLOUD_ACCOUNT_ID and ALIBABA_CLOUD_REGION_ID)",
        )
    return f"https://{account_id}.{region}{'-internal' if internal else ''}.fc.aliyuncs.com"


def caller_credentials(profile: str | None) -> Credentials:
    """Who calls FC (see the module docstring); ``HookError("auth")`` when no source has credentials."""
    if profile is None:
        try:
            return resolve_credentials(env=os.environ)
        except CredentialsNotFound:
            pass
    from alibabacloud_credentials.exceptions import CredentialException
    from alibabacloud_credentials.provider import CLIProfileCredentialsProvider, DefaultCredentialsProvider

    provider = (
        DefaultCredentialsProvider()
        if profile is None
        else CLIProfileCredentialsProvider(profile_name=profile)
    )
    try:
        found = provider.get_credentials()
    except CredentialException as exc:
        raise HookError(
            "auth",
            "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
            f"or name an aliyun CLI profile with --profile ({exc})",
        ) from None
    return Credentials(
        found.get_access_key_id(), found.get_access_key_secret(), found.get_security_token() or None
    )


class FcHook:
    """An ``fc2.Client`` for one endpoint and caller, with the two calls the hook makes."""

    def __init__(
        self, endpoint: str, credentials: Credentials, *, timeout: float, connect_retries: int | None = None
    ) -> None:
        import fc2
        import fc2.client

        if connect_retries is not None:
            # fc2 reads its connect-retry budget from this module setting at every request
            # (client.py, requestWithTry); it has no per-client option.
            fc2.client.retries = connect_retries
        self.client = fc2.Client(
            endpoint=endpoint,
            accessKeyID=credentials.access_key_id,
            accessKeySecret=credentials.access_key_secret,
            securityToken=credentials.security_token or "",
            Timeout=timeout,
        )
        self.timeout = timeout

    def submit(
        self, service: str, function: str, qualifier: str | None, body: bytes, invocation_id: str
    ) -> Submission:
        """Queue one async invocation under ``invocation_id``.

        ``HookError`` unless FC accepted it, now or before (the duplicate answer).
        """
        headers = {"x-fc-invocation-type": "Async", "x-fc-stateful-async-invocation-id": invocation_id}
        try:
            answer = self.client.invoke_function(
                service, function, payload=body, headers=headers, qualifier=qualifier
            )
        except Exception as exc:
            failure = from_exception(exc)
            if failure is None:
                raise
            if is_duplicate(failure.status, failure.code):
                return Submission(True, failure.request_id, failure.code)
            raise failure from None
        return Submission(False, str(answer.headers.get("x-fc-request-id", "")))

    def status(
        self, service: str, function: str, qualifier: str | None, invocation_id: str
    ) -> dict[str, Any]:
        """GetStatefulAsyncInvocation: the invocation's record (``status``, times, ``returnPayload``...)."""
        import requests

        target = f"{service}.{qualifier}" if qualifier else service
        function_path = f"/{API_VERSION}/services/{target}/functions/{function}"
        path = f"{function_path}/stateful-async-invocations/{invocation_id}"
        headers = {
            "host": self.client.host,
            "date": email.utils.formatdate(usegmt=True),
            "content-type": "application/json",
            "user-agent": self.client.user_agent,
        }
        if self.client.auth.security_token:
            headers["x-fc-security-token"] = self.client.auth.security_token
        headers["authorization"] = self.client.auth.sign_request("GET", path, headers)
        try:
            answer = requests.get(f"{self.client.endpoint}{path}", headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            failure = from_exception(exc)
            raise (failure or HookError("network", str(exc))) from None
        if answer.status_code != 200:
            raise from_answer(answer.status_code, answer.text, answer.headers.get("x-fc-request-id", ""))
        try:
            record: dict[str, Any] = answer.json()
        except ValueError:
            raise HookError("server", f"FC's status answer is not JSON: {answer.text[:200]}") from None
        return record
