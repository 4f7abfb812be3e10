"""Text encoding detection for Shapefile DBFs and CSV files (UTF-8 vs. GBK/GB18030).

Chinese desktop GIS still writes DBFs in the ANSI code page 936 (GBK), often without a
``.cpg`` file, and GDAL then decodes them as ISO-8859-1 — the result is mojibake
(``¶«³ÇÉçÇø`` instead of ``东城社区``). The order used here: an explicit encoding;
the ``.cpg`` sidecar (checked against the bytes); then the raw bytes of the field
names and text values are tried as UTF-8 and, failing that, GB18030 (a superset of
GBK and GB2312, so it decodes all three).
"""

from __future__ import annotations

import codecs
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gridgeo.i18n import _

# Names found in .cpg files, mapped to a Python/iconv codec.
_CPG_NAMES = {
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "65001": "UTF-8",
    "gbk": "GB18030",
    "gb2312": "GB18030",
    "gb18030": "GB18030",
    "936": "GB18030",
    "cp936": "GB18030",
    "ansi 936": "GB18030",
    "windows-936": "GB18030",
    "big5": "BIG5",
    "950": "BIG5",
    "cp950": "BIG5",
    "1252": "CP1252",
    "ansi 1252": "CP1252",
    "iso-8859-1": "ISO-8859-1",
    "iso 8859-1": "ISO-8859-1",
    "iso88591": "ISO-8859-1",
    "latin1": "ISO-8859-1",
}

#: What a damaged zip archive can raise while being listed or read.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    UnicodeDecodeError,
    ValueError,
    NotImplementedError,
)

# Codecs tried, in order, when nothing says which encoding the bytes are in.
CANDIDATES = ("UTF-8", "GB18030")

_MAX_SAMPLE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class EncodingGuess:
    """The encoding to read a file with and how it was found.

    ``encoding`` is ``None`` when the text is plain ASCII (any reader works).
    ``how`` is one of ``given``, ``cpg``, ``detected``, ``ascii``, ``fallback``.
    ``note`` explains a surprise (e.g. a ``.cpg`` that contradicts the bytes).
    """

    encoding: str | None
    how: str
    note: str | None = None


def normalise_encoding(name: str) -> str:
    """Map a user or ``.cpg`` encoding name to a codec name (``GBK`` → ``GB18030``).

    Raises
    ------
    LookupError
        If Python does not know the codec.
    """
    key = name.strip().lower()
    codec = _CPG_NAMES.get(key)
    if codec is None:
        codec = f"CP{key}" if key.isdigit() else name.strip()
    codecs.lookup(codec)
    return codec


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def guess_bytes(data: bytes) -> EncodingGuess:
    """Guess the encoding of raw text bytes: ASCII, UTF-8 or GB18030."""
    if data.isascii():
        return EncodingGuess(None, "ascii")
    for codec in CANDIDATES:
        if _decodes(data, codec):
            return EncodingGuess(codec, "detected")
    return EncodingGuess(
        "GB18030",
        "fallback",
        _("text is neither valid UTF-8 nor GBK/GB18030; undecodable bytes are replaced"),
    )


def dbf_text_bytes(source: Path | BinaryIO, *, max_bytes: int = _MAX_SAMPLE_BYTES) -> bytes:
    """Concatenate the raw bytes of a DBF's field names and character fields.

    Reads the dBASE III header (record count, header/record length, field
    descriptors) and then at most ``max_bytes`` of records. ``source`` is a path or
    an open binary file (e.g. a member of a zip archive).
    """
    if isinstance(source, Path | str):
        with open(source, "rb") as fh:
            return dbf_text_bytes(fh, max_bytes=max_bytes)
    fh = source
    head = fh.read(32)
    if len(head) < 32:
        return b""
    n_records, header_len, record_len = struct.unpack("<IHH", head[4:12])
    desc = fh.read(max(0, header_len - 32))
    names = []
    fields = []  # (offset in record, length) of character fields
    offset = 1  # deletion flag
    for i in range(0, len(desc) - 31, 32):
        d = desc[i : i + 32]
        if d[0] == 0x0D:
            break
        names.append(d[:11].split(b"\x00", 1)[0])
        flen = d[16]
        if chr(d[11]) == "C":
            fields.append((offset, flen))
        offset += flen
    chunks = list(names)
    if fields and record_len > 0 and n_records > 0:
        n = min(n_records, max(1, max_bytes // record_len))
        raw = fh.read(n * record_len)  # records follow the header's 0x0D terminator
        for r in range(0, len(raw) - record_len + 1, record_len):
            rec = raw[r : r + record_len]
            for off, flen in fields:
                chunks.append(rec[off : off + flen].rstrip(b" \x00"))
    return b"\n".join(chunks)


def guess_dbf_encoding(
    data: bytes, cpg_text: str | None = None, cpg_name: str = ".cpg"
) -> EncodingGuess:
    """Decide from DBF text bytes and an optional ``.cpg`` content (trusted if the bytes agree)."""
    note = None
    if cpg_text is not None:
        declared = cpg_text.strip()
        try:
            codec = normalise_encoding(declared)
        except LookupError:
            note = _("{cpg} names an unknown encoding {name}; detected from the data").format(
                cpg=cpg_name, name=repr(declared)
            )
        else:
            if data.isascii() or _decodes(data, codec):
                return EncodingGuess(codec, "cpg")
            note = _("{cpg} says {name} but the text is not valid {codec}").format(
                cpg=cpg_name, name=repr(declared), codec=codec
            )
    guess = guess_bytes(data)
    if note:
        return EncodingGuess(guess.encoding, guess.how, note)
    return guess


def guess_shapefile_encoding(shp: Path, given: str | None = None) -> EncodingGuess:
    """Decide how to decode a Shapefile's DBF: given > ``.cpg`` (if the bytes agree) > bytes."""
    if given:
        return EncodingGuess(normalise_encoding(given), "given")
    dbf = _sidecar(shp, ".dbf")
    if dbf is None:
        return EncodingGuess(None, "ascii")
    cpg = _sidecar(shp, ".cpg")
    cpg_text = cpg.read_text(encoding="ascii", errors="replace") if cpg else None
    return guess_dbf_encoding(dbf_text_bytes(dbf), cpg_text, cpg.name if cpg else ".cpg")


def guess_zipped_shapefile_encoding(
    archive: Path, layer: str, given: str | None = None
) -> EncodingGuess | None:
    """Like :func:`guess_shapefile_encoding` for ``layer.shp`` inside a zip archive.

    Returns None if the archive holds no DBF for that layer (not a zipped Shapefile).
    """
    if given:
        return EncodingGuess(normalise_encoding(given), "given")
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(n).name.lower(): n for n in zf.namelist()}
            dbf = members.get(f"{layer.lower()}.dbf")
            if dbf is None:
                return None
            with zf.open(dbf) as fh:
                data = dbf_text_bytes(fh)
            cpg = members.get(f"{layer.lower()}.cpg")
            cpg_text = zf.read(cpg).decode("ascii", errors="replace") if cpg else None
    except ZIP_ERRORS:
        return None
    return guess_dbf_encoding(data, cpg_text, Path(cpg).name if cpg else ".cpg")


def guess_file_encoding(path: Path, given: str | None = None) -> EncodingGuess:
    """Decide how to decode a text file (CSV): given > BOM > UTF-8 > GB18030."""
    if given:
        return EncodingGuess(normalise_encoding(given), "given")
    with open(path, "rb") as fh:
        data = fh.read(_MAX_SAMPLE_BYTES)
    if data.startswith(codecs.BOM_UTF8):
        return EncodingGuess("utf-8-sig", "detected")
    if len(data) == _MAX_SAMPLE_BYTES:
        # Do not judge by a multi-byte character cut at the sample's end.
        data = data[: data.rfind(b"\n") + 1] or data
    return guess_bytes(data)


def _sidecar(shp: Path, suffix: str) -> Path | None:
    for cand in (shp.with_suffix(suffix), shp.with_suffix(suffix.upper())):
        if cand.exists():
            return cand
    return None
