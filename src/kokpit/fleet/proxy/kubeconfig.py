"""The kubeconfig that reaches a member through the hub's proxy with the caller's own hub
credentials; pure.

It keeps the user entry of the caller's hub kubeconfig as it is (certificate, token or credential
plugin: whatever the hub accepts, the proxy accepts) and points the cluster at
`<proxyURL>/clusters/<name>`, trusting the CA the hub published. Nothing of the member's own
credentials is in it: what the caller may do there is decided by the member's RBAC.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kokpit.fleet.proxy.endpoints import Endpoints

_FILE_KEYS = ("client-certificate", "client-key", "tokenFile")


def proxy_kubeconfig(
    hub_config: Mapping[str, Any], *, cluster: str, endpoints: Endpoints, base_dir: Path | None = None
) -> dict[str, Any]:
    """`proxy_kubeconfig` builds the kubeconfig for member `cluster` from the current context of the
    hub kubeconfig `hub_config` (already checked to be usable). Relative file paths in the user entry
    are made absolute against `base_dir` (the hub kubeconfig's directory), so the result works from
    anywhere. Raises `ValueError` when the current context's user is missing."""
    contexts = {c["name"]: c.get("context") or {} for c in hub_config.get("contexts") or []}
    users = {u["name"]: u.get("user") or {} for u in hub_config.get("users") or []}
    context = contexts.get(hub_config.get("current-context"), {})
    user_name = context.get("user")
    if user_name not in users:
        raise ValueError(f"the hub kubeconfig's current context has no user {user_name!r}")
    user = dict(users[user_name])
    if base_dir is not None:
        for key in _FILE_KEYS:
            if isinstance(user.get(key), str) and not Path(user[key]).is_absolute():
                user[key] = str(base_dir / user[key])
    entry = f"{cluster}-via-kokpit"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": entry,
                "cluster": {
                    "server": f"{endpoints.proxy_url}/clusters/{cluster}",
                    "certificate-authority-data": base64.b64encode(endpoints.ca_pem.encode()).decode(),
                },
            }
        ],
        "users": [{"name": str(user_name), "user": user}],
        "contexts": [{"name": entry, "context": {"cluster": entry, "user": str(user_name)}}],
        "current-context": entry,
    }
