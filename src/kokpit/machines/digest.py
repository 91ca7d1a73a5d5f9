"""The config digest of a rendered component: what "the same configuration" means across nodes (pure).

Two hosts whose component renders to the same files (path, mode, content) and artifacts (source,
path, mode, sha256) have the same digest, whatever their prefix: paths are taken as the component
declares them, not below the Host's prefix. The operator records the digest on the host and in the
Machine's status; a different digest means the configuration changed and `configure` runs again.
Scripts are not part of it: a changed `check` or `remove` must not restart a running daemon, and what a
daemon reads belongs in a file (flags included), where drift is also detected.
"""

from __future__ import annotations

import hashlib
import json

from kokpit.machines.rendering import RenderedComponent


def config_digest(rendered: RenderedComponent) -> str:
    """`config_digest` is the hex sha256 over `rendered`'s files and artifacts, sorted by path.

    Every artifact must carry its sha256 (`RenderedComponent.with_artifact_hashes` fills those of
    `file://` sources); ValueError names the first that does not."""
    for artifact in rendered.artifacts:
        if not artifact.sha256:
            raise ValueError(f"component {rendered.name}: artifact {artifact.path} has no sha256 yet")
    document = {
        "files": [
            [f.path, f"{f.mode:04o}", hashlib.sha256(f.content.encode()).hexdigest()]
            for f in sorted(rendered.files, key=lambda f: f.path)
        ],
        "artifacts": [
            [a.path, f"{a.mode:04o}", a.source, a.sha256]
            for a in sorted(rendered.artifacts, key=lambda a: a.path)
        ],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
