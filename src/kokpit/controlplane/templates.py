"""The one Jinja2 environment kokpit renders user-written templates with (addons, node components).

Templates come from resources anyone with write access to them can edit, and are rendered inside
the hub: sandboxed (no dunder attributes, no mutation of the context), and a variable that does not
exist is an error rather than an empty string.
"""

from __future__ import annotations

import jinja2
import jinja2.sandbox

SANDBOXED_TEMPLATES = jinja2.sandbox.ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)
