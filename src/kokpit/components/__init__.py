"""Components: the pure core that turns a small application spec into manifests.

Conversion between the served versions (`conversion`, `review` for the API server's
`ConversionReview`), the choice of a template (`selection`), sandboxed rendering (`render`) and the
templates kokpit ships (`builtin`). No client here: the controller that renders Components on the hub
and delivers them is built over these functions.
"""

from kokpit.components.builtin import builtin_templates
from kokpit.components.conversion import CONVERSION_ANNOTATION, ConversionError, convert
from kokpit.components.render import ALLOWED_KINDS, Rendered, RenderError, render
from kokpit.components.review import answer_conversion_review
from kokpit.components.selection import Candidate, select_template

__all__ = [
    "ALLOWED_KINDS",
    "CONVERSION_ANNOTATION",
    "Candidate",
    "ConversionError",
    "RenderError",
    "Rendered",
    "answer_conversion_review",
    "builtin_templates",
    "convert",
    "render",
    "select_template",
]
