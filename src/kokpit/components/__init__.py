"""Components: the pure core that turns a small application spec into manifests.

Conversion between the served versions (`conversion`, `review` for the API server's
`ConversionReview`), the choice of a template (`selection`), sandboxed rendering (`render`), the
templates kokpit ships (`builtin`), what a Component becomes on the hub (`plan`) and its status from
delivery's bindings (`status`): all pure. `controller` is the I/O around them, and `setup` adds it to
the hub's manager.
"""

from kokpit.components.builtin import builtin_templates
from kokpit.components.controller import UNMANAGED_ANNOTATION, setup
from kokpit.components.conversion import CONVERSION_ANNOTATION, ConversionError, convert
from kokpit.components.render import ALLOWED_KINDS, Rendered, RenderError, render
from kokpit.components.review import answer_conversion_review
from kokpit.components.selection import Candidate, select_template

__all__ = [
    "ALLOWED_KINDS",
    "CONVERSION_ANNOTATION",
    "UNMANAGED_ANNOTATION",
    "Candidate",
    "ConversionError",
    "RenderError",
    "Rendered",
    "answer_conversion_review",
    "builtin_templates",
    "convert",
    "render",
    "select_template",
    "setup",
]
