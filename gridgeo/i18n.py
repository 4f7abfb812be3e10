"""Languages: Simplified Chinese by default, English on request, through gettext catalogues.

Messages are written in English in the code and wrapped in :func:`_`; the translations
live in standard gettext catalogues, ``gridgeo/locale/<lang>/LC_MESSAGES/gridgeo.po``
(edit them with any PO editor; ``pybabel extract`` finds new messages). The ``.po`` files
ship inside the package and are read at run time by :func:`read_po_messages` (the plain
entries Babel writes: no plural forms or contexts), so a wheel needs no build step and the
command line does not wait for Babel (≈0.1 s). The language is ``GRIDGEO_LANG`` (``zh_CN`` default, ``en``), or ``--lang`` on the
command line for one run (:func:`use_language`).
"""

from __future__ import annotations

import contextvars
import logging
import re
from functools import lru_cache
from pathlib import Path

from gridgeo._env import language_setting

log = logging.getLogger(__name__)

#: Languages with a catalogue (English is the language of the code: no catalogue needed).
LANGUAGES = ("zh_CN", "en")
DOMAIN = "gridgeo"
_LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_ACTIVE: contextvars.ContextVar[str | None] = contextvars.ContextVar("gridgeo_lang", default=None)


def normalise_language(value: str | None) -> str:
    """``zh``, ``zh-CN``, ``zh_CN.UTF-8``, ``zh-Hans`` → ``zh_CN``; ``en``, ``en-US`` → ``en``.

    Raises
    ------
    ValueError
        For a language without a catalogue (the message names GRIDGEO_LANG and --lang).
    """
    key = (value or "").strip().split(".")[0].replace("-", "_").lower()
    if key.startswith("zh"):
        return "zh_CN"
    if key.startswith("en") or key in ("c", "posix"):
        return "en"
    raise ValueError(
        f"language {value!r} is not available; set GRIDGEO_LANG or --lang to one of "
        f"{', '.join(LANGUAGES)}"
    )


def _setting_language() -> str:
    try:
        return normalise_language(language_setting())
    except ValueError:
        log.warning("GRIDGEO_LANG=%r is not available; using zh_CN", language_setting())
        return "zh_CN"


def language() -> str:
    """The language in use: ``--lang`` of this run, else ``GRIDGEO_LANG``, else zh_CN."""
    return _ACTIVE.get() or _setting_language()


def use_language(value: str | None) -> str:
    """Use ``value`` (None: ``GRIDGEO_LANG``) from now on in this context; returns it normalised.

    Raises
    ------
    ValueError
        For a language without a catalogue.
    """
    if not value:
        # No choice of its own: follow GRIDGEO_LANG (a previous run's --lang must not stick).
        _ACTIVE.set(None)
        return _setting_language()
    lang = normalise_language(value)
    _ACTIVE.set(lang)
    return lang


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
# One entry of a block: msgid and msgstr, each with its continuation lines.
_ENTRY = re.compile(
    r'^[ \t]*msgid[ \t]+"(.*)"[ \t]*\n((?:[ \t]*".*"[ \t]*\n)*)'
    r'[ \t]*msgstr[ \t]+"(.*)"[ \t]*(?:\n|$)((?:[ \t]*".*"[ \t]*(?:\n|$))*)',
    re.M,
)
# A block that is not a plain translation: a context, plural forms, or marked fuzzy.
_SKIP = re.compile(r"^[ \t]*(?:msgctxt|msgid_plural)\b|^[ \t]*#,.*fuzzy", re.M)
_PIECE = re.compile(r'"(.*)"')


def _unquote(body: str) -> str:
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _joined(first: str, more: str) -> str:
    return _unquote(first + "".join(_PIECE.findall(more))) if more else _unquote(first)


def read_po_messages(text: str) -> dict[str, str]:
    """msgid → msgstr of the translated, non-fuzzy, singular entries of a PO file's text.

    Entries with a context or plural forms are skipped (gridgeo writes none); the header
    (empty msgid) is not a message. One regular expression per entry (the catalogue has
    ~1,450 entries: a few milliseconds of every start-up in Chinese).
    """
    out: dict[str, str] = {}
    for block in re.split(r"\n\s*\n", text):
        m = _ENTRY.search(block)
        if m is None or _SKIP.search(block):
            continue
        msgid, msgstr = _joined(m[1], m[2]), _joined(m[3], m[4])
        if msgid and msgstr:
            out[msgid] = msgstr
    return out


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(lang: str) -> dict[str, str]:
    """msgid → translation of one language (empty for English and untranslated entries)."""
    if lang == "en":
        return {}
    path = _LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    return read_po_messages(path.read_text(encoding="utf-8"))


def gettext(message: str, lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: :func:`language`); itself when untranslated."""
    return catalogue(lang or language()).get(message, message)


_ = gettext


#: pydantic's error types a settings or profile file meets most, as catalogue entries; the
#: placeholders are the error's ``ctx`` (``{error}`` for a validator's own message).
_VALIDATION_TYPES = {
    "missing": "required, but missing",
    "extra_forbidden": "not a known setting",
    "int_parsing": "should be a whole number",
    "int_type": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_parsing": "should be a number",
    "float_type": "should be a number",
    "bool_parsing": "should be true or false",
    "bool_type": "should be true or false",
    "string_type": "should be text",
    "list_type": "should be a list",
    "dict_type": "should be a table",
    "model_type": "should be a table",
    "greater_than": "should be greater than {gt}",
    "greater_than_equal": "should be at least {ge}",
    "less_than": "should be less than {lt}",
    "less_than_equal": "should be at most {le}",
    "literal_error": "should be one of {expected}",
    "string_pattern_mismatch": "should match the pattern {pattern}",
    "too_short": "should have at least {min_length} items",
    "too_long": "should have at most {max_length} items",
    "value_error": "{error}",
}


def validation_detail(error: dict, lang: str | None = None) -> str:
    """One error of a pydantic ``ValidationError.errors()`` as ``where: what`` in ``lang``.

    ``where`` is the dotted location (``urban.max_households``); ``what`` is pydantic's own
    message in English, and in another language the translation of its type
    (``_VALIDATION_TYPES``) where there is one.
    """
    where = ".".join(str(x) for x in error.get("loc", ()))
    template = _VALIDATION_TYPES.get(error.get("type", ""))
    ctx = dict(error.get("ctx") or {})
    if template is None or (lang or language()) == "en":
        what = error.get("msg", "")
    else:
        ctx["error"] = str(ctx.get("error", ""))
        if "expected" in ctx:  # pydantic joins the choices in English: 'a', 'b' or 'c'
            ctx["expected"] = re.sub(r", | or ", "、", str(ctx["expected"]))
        try:
            what = gettext(template, lang).format(**ctx)
        except (KeyError, IndexError):
            what = error.get("msg", "")
    return f"{where}: {what}" if where else what
