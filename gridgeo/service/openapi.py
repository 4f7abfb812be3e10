"""The OpenAPI document in the language in use: its summaries and descriptions translated.

The document is built in English (the language of the code: route docstrings, ``description=``
of parameters, responses and model fields); :func:`translate_document` makes a copy with
every ``summary`` and ``description`` text replaced by its catalogue entry
(``gridgeo/locale/<lang>/LC_MESSAGES/gridgeo.po``; the exact text is the msgid, texts
without an entry stay English). Names stay as they are: titles, operation ids, parameter,
property and schema names; so do data (``example``, ``default``, ``enum`` …).
"""

from __future__ import annotations

from typing import Any

from gridgeo.i18n import catalogue

#: Keys whose string values are texts for people.
TEXT_KEYS = frozenset({"summary", "description"})
#: Keys whose values are data, never translated (an example may hold a "description" field).
_DATA_KEYS = frozenset({"example", "examples", "default", "const", "enum"})
#: Keys whose values map names to schemas (a property may be called "example" or "summary").
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "schemas"})


def translate_document(doc: dict[str, Any], lang: str) -> dict[str, Any]:
    """A copy of the OpenAPI document ``doc`` with its texts in ``lang``.

    Parameters
    ----------
    doc
        The document as built (English); left unchanged.
    lang
        A language of :data:`gridgeo.i18n.LANGUAGES`; ``en`` returns ``doc`` itself.

    Returns
    -------
    dict
        Every ``summary``/``description`` string replaced by its translation where the
        catalogue has one; everything else as in ``doc``.
    """
    texts = catalogue(lang)
    if not texts:
        return doc
    return _walk(doc, texts)


def _walk(node: Any, texts: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_walk(item, texts) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in TEXT_KEYS and isinstance(value, str):
            out[key] = texts.get(value, value)
        elif key in _DATA_KEYS:
            out[key] = value
        elif key in _NAME_MAPS and isinstance(value, dict):
            out[key] = {name: _walk(schema, texts) for name, schema in value.items()}
        else:
            out[key] = _walk(value, texts)
    return out
