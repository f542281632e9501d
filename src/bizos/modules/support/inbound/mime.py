"""RFC 5322/MIME messages to a parsed, normalised form.

The stdlib ``email`` package (``policy.default``) does the parsing: multipart trees,
quoted-printable and base64, RFC 2047 encoded headers and RFC 2231 parameters. What it
leaves to us is what real mail gets wrong:

- Charsets. Labels are decoded the way mail readers do: ``iso-8859-1``/``us-ascii``
  (and no label at all) are read as UTF-8 when the bytes are valid UTF-8, otherwise as
  Windows-1252 (its superset, which is what such mail almost always is); legacy Asian
  labels are widened to their vendor supersets (``shift_jis`` → ``cp932``, ``gb2312`` →
  ``gb18030``, ``iso-2022-jp`` → ``iso2022_jp_ext``); an unknown label falls back to
  UTF-8, then Windows-1252. Decoding never fails: the worst case is U+FFFD.
- HTML-only mail becomes text with BeautifulSoup (blocks and ``<br>`` become line
  breaks, scripts and styles are dropped).
- Attachments are kept up to :data:`MAX_ATTACHMENT_BYTES` each and
  :data:`MAX_ATTACHMENTS` per message; larger ones are listed as skipped.
- Automatic mail (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``, bounces, delivery
  reports, ``Precedence: bulk``) is flagged so it never opens or reopens a ticket.

Text handed back never holds NUL or lone surrogates (PostgreSQL refuses both).
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 50
MAX_BODY_CHARS = 500_000
MAX_REFERENCES = 100

_WESTERN_LABELS = frozenset(
    {
        "",
        "us-ascii",
        "ascii",
        "iso-8859-1",
        "iso8859-1",
        "iso_8859-1",
        "latin-1",
        "latin1",
        "l1",
        "cp819",
        "ibm819",
        "iso-ir-100",
        "csisolatin1",
        "windows-1252",
        "cp1252",
        "unknown-8bit",
        "x-unknown",
        "unknown",
        "x-user-defined",
        "default",
    }
)
# Vendor supersets that real senders mean when they name the base charset.
_SUPERSETS = {
    "shift_jis": ("cp932",),
    "euc_jp": ("cp932",),
    "iso2022_jp": ("iso2022_jp_ext", "iso2022_jp_2"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "euc_kr": ("cp949",),
    "big5": ("big5hkscs", "cp950"),
    "iso8859-8": ("cp1255",),
    "iso8859-9": ("cp1254",),
    "ascii": ("cp1252",),
}
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic|matische)?[\s_-]*(reply|response|antwort)|autoreply|out of (the )?office"
    r"|abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica"
    r"|undeliverable|undelivered mail|delivery status notification|mail delivery failed)\b",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_MSGID = re.compile(r"<[^<>\s]{1,900}>")
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "li",
        "tr",
        "table",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "address",
        "dl",
        "dt",
        "dd",
        "center",
    }
)
_QUOTE_HEADERS = (
    re.compile(r"^on\b.{1,400}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^-{2,}\s*original message\s*-{2,}", re.IGNORECASE),
    re.compile(r"^-{2,}\s*(forwarded message|weitergeleitete nachricht)\s*-{2,}", re.IGNORECASE),
    re.compile(r"^le\b.{1,400}\ba [ée]crit\s?:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^am\b.{1,400}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^el\b.{1,400}\bescribi[óo]:\s*$", re.IGNORECASE | re.DOTALL),
)
_OUTLOOK_FROM = re.compile(r"^\*?(from|von|de):\*?\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\*?(sent|date|gesendet|envoy[ée]|to|an|à|subject|betreff):", re.I)


class UnparseableEmail(ValueError):
    """The bytes are not a message we can make a ticket of (with the reason)."""


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True, slots=True)
class SkippedAttachment:
    filename: str
    content_type: str
    size: int
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """One message as the support desk needs it. ``text`` is the whole plain-text body;
    ``reply_text`` is the new part of a reply (quoted history cut off), or ``text``."""

    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    subject: str
    sender: Address | None
    reply_to: Address | None
    to: list[Address]
    cc: list[Address]
    date: dt.datetime | None
    text: str
    reply_text: str
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)
    skipped: list[SkippedAttachment] = field(default_factory=list)
    auto_reply: bool = False
    auto_reason: str | None = None

    @property
    def thread_ids(self) -> list[str]:
        """Message ids this one answers, the most direct first (In-Reply-To, then
        References from the newest)."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += [r for r in reversed(self.references) if r not in ids]
        return ids


# --- text helpers -----------------------------------------------------------------------


def clean(text: str) -> str:
    """Text storable anywhere: no NUL, no lone surrogates (replaced by U+FFFD)."""
    text = text.replace("\x00", "")
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def _utf8_or_cp1252(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def decode_text(data: bytes, charset: str | None) -> str:
    """``data`` as text, trusting the charset label only as far as real mail deserves."""
    label = (charset or "").strip().strip("\"'").lower()
    if label in _WESTERN_LABELS:
        text = _utf8_or_cp1252(data)
    else:
        try:
            name = codecs.lookup(label).name
        except LookupError:
            name = ""
        text = _decode_with(data, name) if name else _utf8_or_cp1252(data)
    return clean(text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))


def _decode_with(data: bytes, name: str) -> str:
    for candidate in (name, *_SUPERSETS.get(name, ())):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(name, errors="replace")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: paragraphs and breaks as lines, no markup."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title", "meta", "noscript", "template"]):
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, NavigableString) and node.find_parent("pre") is None:
            node.replace_with(re.sub(r"\s+", " ", str(node)))
    for tag in soup.find_all(True):
        if not isinstance(tag, Tag):
            continue
        if tag.name == "br":
            tag.replace_with("\n")
        elif tag.name == "li":
            tag.insert(0, "- ")
            tag.insert_after("\n")
        elif tag.name in _BLOCKS:
            tag.insert_before("\n")
            tag.insert_after("\n")
        elif tag.name in ("td", "th"):
            tag.insert_after(" ")
    return _tidy(soup.get_text())


def _tidy(text: str) -> str:
    # Collapsed markup leaves at most one leading space; deeper indents are <pre> text.
    lines = [re.sub(r"^ (?=\S)", "", line.rstrip()) for line in text.splitlines()]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def trim_quoted(text: str) -> str:
    """The new part of a reply: the text above the first quote header ("On … wrote:",
    "-----Original Message-----", an Outlook "From:/Sent:" block) and without trailing
    ``>`` lines. Falls back to the whole text when nothing would be left."""
    lines = text.splitlines()
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        pair = f"{stripped} {lines[i + 1].strip()}" if i + 1 < len(lines) else stripped
        if any(p.match(stripped) or p.match(pair) for p in _QUOTE_HEADERS[:1]) or any(
            p.match(stripped) for p in _QUOTE_HEADERS[1:]
        ):
            cut = i
            break
        following = [ln.strip() for ln in lines[i + 1 : i + 4]]
        if _OUTLOOK_FROM.match(stripped) and any(_OUTLOOK_NEXT.match(f) for f in following):
            cut = i
            break
    kept = lines[:cut]
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    while kept and set(kept[-1].strip()) <= set("_-"):
        kept.pop()
    trimmed = "\n".join(kept).strip()
    return trimmed or text.strip()


# --- headers ----------------------------------------------------------------------------


def _header(msg: Message, name: str) -> str:
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # Raw 8-bit bytes in a header (no RFC 2047): UTF-8, else Windows-1252.
        text = _utf8_or_cp1252(raw.encode("utf-8", "surrogateescape"))
    else:
        try:
            text = str(msg.get(name))
        except Exception:  # a header the policy cannot model: keep its raw text
            text = raw
    return clean(" ".join(text.split()))


def _decoded_words(text: str) -> str:
    """``text`` with RFC 2047 encoded words decoded (as it stands when that fails)."""
    try:
        return str(make_header(decode_header(text)))
    except Exception:
        return text


def _has_raw_8bit(msg: Message, name: str) -> bool:
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
    return any("\udc80" <= ch <= "\udcff" for ch in raw)


def _addresses(msg: Message, name: str) -> list[Address]:
    out: list[Address] = []
    parsed: list[tuple[str, str]] = []
    # Raw 8-bit names (``From: Jürgen <j@x.de>``, no RFC 2047) are decoded by
    # ``_header`` (UTF-8, else Windows-1252); the structured parser would mangle them.
    if not _has_raw_8bit(msg, name):
        try:
            header = msg.get(name)
            parsed = [
                (a.display_name, a.addr_spec)
                for a in getattr(header, "addresses", ())
                if isinstance(a, HeaderAddress)
            ]
        except Exception:
            parsed = []
    if not parsed or not all(display for display, _ in parsed):
        # Also the fallback for names given only as a comment: ``a@b.com (Ann Smith)``.
        plain = getaddresses([_header(msg, name)])
        names = {spec.strip().lower(): display for display, spec in plain if display}
        if not _has_raw_8bit(msg, name):
            raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
            for display, spec in getaddresses([" ".join(str(raw).split())]):
                if display and spec.strip().lower() not in names:
                    names[spec.strip().lower()] = _decoded_words(display)
        parsed = [
            (display or names.get(spec.strip().lower(), ""), spec) for display, spec in parsed
        ] or plain
    for display, spec in parsed:
        email = clean(spec.strip().strip("<>"))
        local, at, domain = email.rpartition("@")
        if not at or not local or "." not in domain or len(email) > 320 or " " in email:
            continue
        out.append(Address(email=email, name=clean(display.strip()) or None))
    return out


def message_ids(value: str) -> list[str]:
    found = _MSGID.findall(value)
    if not found and value.strip():
        # Broken clients drop the angle brackets: take bare tokens that look like ids.
        found = [f"<{t}>" for t in value.split() if "@" in t and len(t) <= 900]
    return found


def _date(msg: Message) -> dt.datetime | None:
    raw = _header(msg, "Date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _auto_reason(msg: Message, subject: str, sender: Address | None) -> str | None:
    """Why this message was sent by a machine (RFC 3834 and common practice), or None."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Failed-Recipients"):
        if _header(msg, name):
            return name
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    if _header(msg, "Return-Path") == "<>":
        return "null return path"
    if sender and sender.email.partition("@")[0].lower() in _BOUNCE_SENDERS:
        return "bounce sender"
    if _AUTO_SUBJECT.match(subject):
        return "automatic subject"
    return None


# --- body and attachments ---------------------------------------------------------------


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_text(data, part.get_content_charset())


def _leaves(msg: Message) -> list[Message]:
    """Leaf parts in order; an attached message (message/rfc822) is one leaf."""
    if msg.get_content_maintype() == "multipart":
        payload = msg.get_payload()
        parts = payload if isinstance(payload, list) else []
        return [leaf for p in parts if isinstance(p, Message) for leaf in _leaves(p)]
    return [msg]


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    name = clean(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    if not name and part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            subject = re.sub(r"[^\w\s.,()-]", "", _header(inner[0], "Subject")).strip()[:100]
            name = f"{subject}.eml" if subject else ""
    if not name:
        ctype = part.get_content_type()
        ext = ".eml" if ctype == "message/rfc822" else mimetypes.guess_extension(ctype) or ".bin"
        name = f"attachment-{index}{ext}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 190 - len(ext)]}{dot}{ext}" if dot and len(ext) < 10 else name[:200]
    return name


def _attachment_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            try:
                return inner[0].as_bytes(policy=policy.SMTP)
            except Exception:
                return str(inner[0]).encode("utf-8", "replace")
        return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _is_inline_text(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "inline").lower()
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and disposition == "inline"
        and not part.get_filename()
    )


@dataclass
class _Body:
    texts: list[str] = field(default_factory=list)
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    skipped: list[SkippedAttachment] = field(default_factory=list)


def _collect(msg: EmailMessage) -> _Body:
    body = _Body()
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    chosen = [p for p in (plain, html) if p is not None]
    if html is not None:
        body.html = clean(_part_text(html))
    main_text = _part_text(plain).strip() if plain is not None else ""
    if not main_text and body.html:
        main_text = html_to_text(body.html)
    body.texts.append(main_text)
    index = 0
    for part in _leaves(msg):
        if any(part is c for c in chosen):
            continue
        if _is_inline_text(part) and msg.get_content_type() != "multipart/report":
            # Extra inline text in a multipart/mixed (Apple Mail splits around images).
            extra = _part_text(part)
            if part.get_content_type() == "text/html":
                extra = html_to_text(extra)
            if extra.strip() and not _inside_alternative(msg, part):
                body.texts.append(extra.strip())
            continue
        index += 1
        _keep_attachment(body, part, index)
    return body


def _inside_alternative(msg: Message, target: Message) -> bool:
    """Whether ``target`` is an alternative rendering of a body we already took."""
    if msg.get_content_type() == "multipart/alternative":
        return any(p is target for p in _leaves(msg))
    payload = msg.get_payload() if msg.is_multipart() else []
    return any(
        _inside_alternative(p, target)
        for p in (payload if isinstance(payload, list) else [])
        if isinstance(p, Message) and p.get_content_maintype() == "multipart"
    )


def _keep_attachment(body: _Body, part: Message, index: int) -> None:
    filename = _filename(part, index)
    ctype = part.get_content_type()
    content = _attachment_bytes(part)
    if not content:
        return
    if len(content) > MAX_ATTACHMENT_BYTES:
        body.skipped.append(
            SkippedAttachment(filename, ctype, len(content), "larger than the attachment limit")
        )
        return
    if len(body.attachments) >= MAX_ATTACHMENTS:
        body.skipped.append(SkippedAttachment(filename, ctype, len(content), "too many"))
        return
    cid = _header(part, "Content-ID") or None
    inline = (part.get_content_disposition() or "") == "inline"
    body.attachments.append(Attachment(filename, ctype, content, inline, cid))


# --- the message --------------------------------------------------------------------------


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse one RFC 5322 message. Raises :class:`UnparseableEmail` for bytes that are
    not a message with a sender (there is nobody to open a ticket for or answer)."""
    if not raw.strip():
        raise UnparseableEmail("the message is empty")
    try:
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        senders = _addresses(msg, "From") or _addresses(msg, "Sender")
        if not senders:
            raise UnparseableEmail("the message has no sender address (From)")
        subject = _header(msg, "Subject")[:998]
        sender = senders[0]
        body = _collect(msg)
        reply_to = _addresses(msg, "Reply-To")
        own_ids = message_ids(_header(msg, "Message-ID"))
        in_reply_to = message_ids(_header(msg, "In-Reply-To"))
        references = message_ids(_header(msg, "References"))[-MAX_REFERENCES:]
        auto_reason = _auto_reason(msg, subject, sender)
    except UnparseableEmail:
        raise
    except Exception as exc:  # the email package gave up on these bytes
        raise UnparseableEmail(f"the message could not be parsed ({type(exc).__name__})") from exc
    text = "\n\n".join(t for t in body.texts if t)[:MAX_BODY_CHARS]
    return ParsedEmail(
        message_id=own_ids[0] if own_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        subject=subject,
        sender=sender,
        reply_to=reply_to[0] if reply_to else None,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        date=_date(msg),
        text=text,
        reply_text=trim_quoted(text) if text else "",
        html=body.html[:MAX_BODY_CHARS] if body.html else None,
        attachments=body.attachments,
        skipped=body.skipped,
        auto_reply=auto_reason is not None,
        auto_reason=auto_reason,
    )
