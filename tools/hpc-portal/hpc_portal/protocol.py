"""Wire encoding of the portal's calls: base64 form fields, strict parsing.

The portal encodes most form values as base64 of UTF-8 text and a few as plain
text, differently for each call. A client that base64-encodes a plain field
(or forgets to encode a base64 one, or lets ``+`` through unescaped) would
work against nothing but a lenient server, so every check here is strict and
every problem is reported in words that say which field was wrong and how.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

#: Job states as the portal spells them.
QUEUED = "Queued"
RUNNING = "Running"
FINISHED = "Finished"
FAILED = "Failed"
CANCELED = "Canceled"
STATES = (QUEUED, RUNNING, FINISHED, FAILED, CANCELED)
FINAL_STATES = (FINISHED, FAILED, CANCELED)
#: States HPC Pack shows in passing: before Queued, after the end, while cancelling.
SUBMITTED = "Submitted"
VALIDATING = "Validating"
FINISHING = "Finishing"
CANCELING = "Canceling"
PASSING_STATES = (SUBMITTED, VALIDATING, FINISHING, CANCELING)


class ProtocolError(Exception):
    """A request that a correct client would never send."""


def b64encode_text(text: str) -> str:
    """Encode text the way the portal and its clients do: base64 of UTF-8, padded."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def b64decode_text(value: str, name: str) -> str:
    """Decode one base64 field strictly, or raise ProtocolError naming the field.

    Non-canonical encodings (missing padding, stray bits, spaces from an
    unescaped ``+``) are refused, since the real PHP may read them differently.
    """
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ProtocolError(
            f"field {name!r} must be base64 (standard alphabet, padded): {value[:40]!r}"
        ) from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise ProtocolError(f"field {name!r} is not canonical base64: {value[:40]!r}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"field {name!r} does not decode to UTF-8 text") from None


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """Parse an url-encoded form body, refusing duplicates and other media types."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != FORM_CONTENT_TYPE:
        raise ProtocolError(f"POST body must be {FORM_CONTENT_TYPE}, not {content_type!r}")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("form body must be ASCII (url-encoded)") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed form body: {exc}") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise ProtocolError(f"field {key!r} sent twice")
        form[key] = value
    return form


@dataclass(frozen=True)
class FormSpec:
    """Which fields one call takes and how each is encoded.

    ``dynamic_plain`` matches names of plain fields that vary per request
    (cancel's ``c<id>``).
    """

    b64: frozenset[str] = frozenset()
    b64_optional: frozenset[str] = frozenset()
    plain: frozenset[str] = frozenset()
    plain_optional: frozenset[str] = frozenset()
    dynamic_plain: re.Pattern[str] | None = None

    def is_b64(self, name: str) -> bool:
        """Whether ``name`` is a base64 field of this call."""
        return name in self.b64 or name in self.b64_optional


@dataclass
class DecodedForm:
    """A form after decoding: values (decoded where base64), and every problem found."""

    fields: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def decode_form(form: dict[str, str], spec: FormSpec) -> DecodedForm:
    """Decode ``form`` by ``spec``, collecting all problems rather than stopping at one.

    Undecodable values are kept raw so the call log still shows what was sent.
    """
    result = DecodedForm()
    for name in sorted(spec.b64 | spec.plain):
        if name not in form:
            kind = "base64" if name in spec.b64 else "plain"
            result.problems.append(f"missing field {name!r} ({kind})")
    for name, value in form.items():
        if spec.is_b64(name):
            try:
                result.fields[name] = b64decode_text(value, name)
            except ProtocolError as exc:
                result.fields[name] = value
                result.problems.append(str(exc))
        elif (
            name in spec.plain
            or name in spec.plain_optional
            or (spec.dynamic_plain is not None and spec.dynamic_plain.fullmatch(name))
        ):
            result.fields[name] = value
        else:
            result.fields[name] = value
            result.problems.append(f"unexpected field {name!r}")
    return result


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


#: Resource fields that submit may carry besides the always-present rc/rt.
OPTIONAL_RESOURCES = _fs("exc", "mpn", "epm", "rnt", "hu", "rn", "pri")

#: Form specs of the POST calls, by path relative to the portal's base URL.
FORM_SPECS: dict[str, FormSpec] = {
    "index.php": FormSpec(b64=_fs("us", "pw", "hpcfunc")),
    "_listheadnodes.php": FormSpec(b64=_fs("user")),
    "submit_1.php": FormSpec(
        b64=_fs("cluster", "template", "jn", "wd", "se", "so", "jobs", "dep", "ver", "rc", "rt"),
        b64_optional=OPTIONAL_RESOURCES,
        plain=_fs("hpcfunc"),
    ),
    "cancel.php": FormSpec(b64=_fs("cluster", "hpcfunc"), dynamic_plain=re.compile(r"c.*")),
    "showjobfail.php": FormSpec(b64=_fs("cluster"), plain=_fs("hpcfunc", "id")),
    "_listalljobs.php": FormSpec(b64=_fs("user", "scheduler", "state", "jobs")),
    "shownodes.php": FormSpec(b64=_fs("cluster"), plain=_fs("hpcfunc", "cluster_no")),
}

_TIME_FORMAT = "%Y%m%d%H%M%S"


def format_time(when: float | None) -> str:
    """A job time as the portal lists it: local ``YYYYmmddHHMMSS``, empty if unknown."""
    if when is None:
        return ""
    return time.strftime(_TIME_FORMAT, time.localtime(when))


def parse_positive_int(value: str, name: str, *, allow_zero: bool = False) -> int:
    """Parse a decimal count the way a strict server would: digits only."""
    if not re.fullmatch(r"[0-9]+", value):
        raise ProtocolError(f"field {name!r} must be a whole number, not {value!r}")
    number = int(value)
    if number == 0 and not allow_zero:
        raise ProtocolError(f"field {name!r} must be positive")
    return number


def parse_hold_until(value: str, now: float) -> float:
    """Parse submit's ``hu``: minutes from now, or a quoted local date-time."""
    if re.fullmatch(r"[0-9]+", value):
        return now + 60 * int(value)
    match = re.fullmatch(r'"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})"', value)
    if not match:
        raise ProtocolError(
            f"field 'hu' must be minutes or a quoted \"YYYY-mm-dd HH:MM:SS\", not {value!r}"
        )
    try:
        return time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        raise ProtocolError(f"field 'hu' holds an impossible date {value!r}") from None
