"""DLT templates: filling a registered template's ``{#var#}`` slots with CleverTap's variables.

Indian DLT templates mark each variable part with a slot such as ``{#var#}`` (some operators
register typed slots: ``{#numeric#}``, ``{#url#}`` …). CleverTap may send only the template
id and the variables; Pingbix needs the full text, so the operator lists the template texts
in the ``templates`` option and the text is rebuilt here, variables filled in order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["SLOT", "TemplateError", "render_template"]

#: A variable slot of a DLT template.
SLOT = re.compile(r"\{#\w+#\}")


class TemplateError(Exception):
    """The text of a template cannot be rebuilt; ``code`` is the CleverTap failure code."""

    def __init__(self, reason: str, *, code: str) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


def render_template(
    templates: Mapping[str, str],
    template_id: str,
    variables: Sequence[str],
    *,
    sent_as: str | None = None,
) -> str:
    """The text of template ``template_id`` with its slots filled by ``variables`` in order.

    ``sent_as`` is the variables' text as CleverTap sent it: a template with one slot takes
    a comma-separated text whole (an amount such as ``1,500``, a name such as ``Ravi,
    Kumar``), where the split in ``variables`` saw several.

    Raises :class:`TemplateError` (908) when the template is not listed, and (900) when the
    number of variables differs from the number of slots: a text with a slot left empty or
    a variable dropped would be refused by DLT scrubbing or, worse, reach the user wrong.
    """
    text = templates.get(template_id)
    if text is None:
        raise TemplateError(
            f"no text for DLT template {template_id}: the record has no body, so add the "
            f"template's text to this provider's `templates` option",
            code="908",
        )
    slots = len(SLOT.findall(text))
    if slots == 1 and len(variables) > 1 and sent_as is not None and _comma_separated(sent_as):
        variables = (sent_as.strip(),)
    if slots != len(variables):
        raise TemplateError(
            f"DLT template {template_id} has {slots} variable slot(s) but the record has "
            f"{len(variables)} template variable(s)",
            code="900",
        )
    filled = iter(variables)
    # A function replacement, so that a backslash or "\g<0>" in a variable stays literal.
    return SLOT.sub(lambda _: next(filled), text)


def _comma_separated(text: str) -> bool:
    """Whether ``text`` was split on its commas: not a JSON array, no ``|`` in it."""
    stripped = text.strip()
    return "|" not in stripped and not stripped.startswith("[")
