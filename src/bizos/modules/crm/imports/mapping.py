"""Column mapping (CSV header -> field) and the validation of one row against it.

A mapping names, for each CSV column, the field it fills: ``email``, ``name``,
``first_name``, ``last_name``, ``phone``, ``company``, ``title``, ``country``, ``city``,
``tags``, ``source``, ``owner_email`` (``message`` for leads) or ``custom:<key>`` (a
custom property). Columns the caller did not map are mapped by their common names
(``E-mail``, ``Mobile``, ``Organisation``...); a column mapped to ``""`` is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pycountry

from bizos.core.errors import field_error
from bizos.modules.crm.normalize import (
    InvalidEmail,
    InvalidPhone,
    normalize_email,
    normalize_phone,
)

ImportKind = Literal["contacts", "leads"]
KINDS: tuple[ImportKind, ...] = ("contacts", "leads")

CONTACT_FIELDS = (
    "email",
    "name",
    "first_name",
    "last_name",
    "phone",
    "company",
    "title",
    "country",
    "city",
    "tags",
    "source",
    "owner_email",
)
# Leads keep title, country, city and tags in their properties.
LEAD_FIELDS = (*CONTACT_FIELDS[:11], "message")
CUSTOM_PREFIX = "custom:"
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,59}$")

# The longest value each field keeps (the column sizes of crm_contacts).
MAX_LENGTHS = {
    "email": 320,
    "name": 200,
    "first_name": 100,
    "last_name": 100,
    "phone": 40,
    "company": 200,
    "title": 200,
    "city": 100,
    "source": 40,
    "owner_email": 320,
    "message": 10_000,
}
MAX_CUSTOM_VALUE = 1000
MAX_TAGS = 50
MAX_TAG_LENGTH = 50

# Header spellings we recognise, compared lower-case with spaces, _ - . removed.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "workemail", "businessemail", "primaryemail"),
    "name": ("name", "fullname", "contactname", "contact", "displayname", "personname"),
    "first_name": ("firstname", "first", "givenname", "forename", "vorname", "prenom"),
    "last_name": ("lastname", "last", "surname", "familyname", "nachname", "nom"),
    "phone": (
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "cell",
        "cellphone",
        "workphone",
        "telefon",
    ),
    "company": (
        "company",
        "companyname",
        "organization",
        "organisation",
        "org",
        "account",
        "accountname",
        "employer",
        "firma",
    ),
    "title": ("title", "jobtitle", "position", "role", "jobrole"),
    "country": ("country", "countrycode", "countryregion", "land"),
    "city": ("city", "town", "locality", "stadt"),
    "tags": ("tags", "tag", "labels", "label", "segments"),
    "source": ("source", "leadsource", "origin", "channel"),
    "owner_email": ("owner", "owneremail", "contactowner", "leadowner", "salesrep", "assignedto"),
    "message": ("message", "comment", "comments", "notes", "note", "inquiry", "enquiry"),
}
_BY_SPELLING = {spelling: name for name, spellings in _SYNONYMS.items() for spelling in spellings}
# Formula-escaped cells from our own export (and most others) start with ' before one of
# these; the quote is not part of the value.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def fields_for(kind: ImportKind) -> tuple[str, ...]:
    return LEAD_FIELDS if kind == "leads" else CONTACT_FIELDS


def _spelling(header: str) -> str:
    return re.sub(r"[\s_\-.]+", "", header.casefold())


def auto_field(header: str, kind: ImportKind) -> str | None:
    """The field a column with this header fills, if we recognise the name."""
    if header.casefold().startswith(CUSTOM_PREFIX):
        key = header[len(CUSTOM_PREFIX) :].strip()
        return f"{CUSTOM_PREFIX}{key}" if _CUSTOM_KEY.match(key) else None
    target = _BY_SPELLING.get(_spelling(header))
    return target if target in fields_for(kind) else None


def resolve_mapping(
    columns: list[str], explicit: dict[str, str] | None, kind: ImportKind
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The final header -> field mapping and the problems with the explicit one.

    Explicit entries win; other columns are mapped by name unless their field is taken.
    Problems are 422 field errors at ``body.mapping.<header>`` (or ``body.mapping``).
    """
    errors: list[dict[str, Any]] = []
    present = {c.casefold(): c for c in columns if c}
    allowed = fields_for(kind)
    mapping: dict[str, str] = {}
    ignored: set[str] = set()
    for header, target in (explicit or {}).items():
        loc = ["body", "mapping", header]
        column = present.get(header.strip().casefold())
        if column is None:
            errors.append(field_error(loc, "no column with this name in the file"))
            continue
        target = target.strip()
        if target in ("", "ignore", "-"):
            ignored.add(column)
            continue
        if target.startswith(CUSTOM_PREFIX):
            if not _CUSTOM_KEY.match(target[len(CUSTOM_PREFIX) :]):
                errors.append(
                    field_error(loc, "custom keys are 1-60 letters, digits, _ . - or space")
                )
                continue
        elif target not in allowed:
            errors.append(
                field_error(
                    loc, f"unknown field {target!r}; one of {', '.join(allowed)}, custom:<key>"
                )
            )
            continue
        if target in mapping.values():
            errors.append(field_error(loc, f"{target!r} is already mapped from another column"))
            continue
        mapping[column] = target
    for column in columns:
        if not column or column in mapping or column in ignored:
            continue
        guess = auto_field(column, kind)
        if guess is not None and guess not in mapping.values():
            mapping[column] = guess
    targets = set(mapping.values())
    if kind == "leads" and "email" not in targets:
        errors.append(field_error(["body", "mapping"], _missing("email", columns)))
    elif kind == "contacts" and not targets & {"email", "phone"}:
        errors.append(field_error(["body", "mapping"], _missing("email or phone", columns)))
    if "name" in targets and targets & {"first_name", "last_name"}:
        errors.append(
            field_error(["body", "mapping"], "map either name or first_name/last_name, not both")
        )
    return mapping, errors


def _missing(what: str, columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:20] if c)
    return f"no column maps to {what}; the file's columns are {shown}"


# --- one row --------------------------------------------------------------------------


@dataclass(slots=True)
class RowValues:
    """A valid row, cleaned: ``None`` means the CSV cell was empty (or unmapped)."""

    email: str | None = None
    email_normalized: str | None = None
    phone: str | None = None
    phone_normalized: str | None = None
    name: str | None = None
    company: str | None = None
    title: str | None = None
    country: str | None = None
    city: str | None = None
    tags: list[str] = field(default_factory=list)
    source: str | None = None
    owner_email: str | None = None
    message: str | None = None
    custom: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowPlan:
    """A mapping compiled against the header: (column index, header, field) triples."""

    kind: ImportKind
    columns: tuple[tuple[int, str, str], ...]
    header: tuple[str, ...]

    @classmethod
    def build(cls, header: list[str], mapping: dict[str, str], kind: ImportKind) -> RowPlan:
        index = {name: i for i, name in enumerate(header) if name}
        triples = tuple((index[c], c, f) for c, f in mapping.items() if c in index)
        return cls(kind=kind, columns=triples, header=tuple(header))

    def raw(self, record: list[str]) -> dict[str, str]:
        """The row as the file had it, keyed by header (the validation report shows it)."""
        out = {name or f"column {i + 1}": "" for i, name in enumerate(self.header)}
        for i, value in enumerate(record):
            key = self.header[i] if i < len(self.header) and self.header[i] else f"column {i + 1}"
            out[key] = value[:MAX_CUSTOM_VALUE]
        return out


def clean_cell(value: str) -> str:
    text = value.strip()
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_PREFIXES:
        return text[1:]
    return text


def parse_row(record: list[str], plan: RowPlan) -> RowValues | list[dict[str, Any]]:
    """The row's values, or its problems as ``{column, field, msg}`` entries."""
    errors: list[dict[str, Any]] = []
    if len(record) > len(plan.header):
        extra = len(record) - len(plan.header)
        errors.append(
            {"column": None, "field": None, "msg": f"{extra} more value(s) than header columns"}
        )
        return errors
    values = RowValues()
    first = last = ""
    phone_column = ""
    country_column = ""

    def problem(column: str | None, name: str, msg: str) -> None:
        errors.append({"column": column, "field": name, "msg": msg})

    for index, column, name in plan.columns:
        text = clean_cell(record[index]) if index < len(record) else ""
        if not text:
            continue
        limit = MAX_LENGTHS.get(name, MAX_CUSTOM_VALUE)
        if len(text) > limit:
            problem(column, name, f"longer than {limit} characters")
            continue
        if name.startswith(CUSTOM_PREFIX):
            values.custom[name[len(CUSTOM_PREFIX) :]] = text
        elif name == "email":
            try:
                values.email_normalized = normalize_email(text)
                values.email = text
            except InvalidEmail as exc:
                problem(column, name, f"invalid email: {exc}")
        elif name == "owner_email":
            try:
                values.owner_email = normalize_email(text)
            except InvalidEmail as exc:
                problem(column, name, f"invalid email: {exc}")
        elif name == "phone":
            values.phone, phone_column = text, column
        elif name == "country":
            code = country_code(text)
            if code is None:
                problem(column, name, "not a country (use an ISO code such as DE or a name)")
            values.country, country_column = code, column
        elif name == "tags":
            tags = split_tags(text)
            if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG_LENGTH for t in tags):
                problem(column, name, f"at most {MAX_TAGS} tags of {MAX_TAG_LENGTH} characters")
            values.tags = tags
        elif name == "first_name":
            first = text
        elif name == "last_name":
            last = text
        else:
            setattr(values, name, text)
    if first or last:
        values.name = " ".join(part for part in (first, last) if part)
    if values.phone is not None:
        try:
            values.phone_normalized = normalize_phone(values.phone, values.country)
        except InvalidPhone as exc:
            hint = "" if values.country or country_column else " (add a +country code)"
            problem(phone_column, "phone", f"invalid phone: {exc}{hint}")
    if not errors:
        if plan.kind == "leads" and values.email is None:
            problem(None, "email", "an email is required")
        elif values.email is None and values.phone is None:
            problem(None, "email", "an email or a phone is required")
    return errors or values


def split_tags(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for part in re.split(r"[,;|]", text):
        tag = part.strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


_COUNTRY_CACHE: dict[str, str | None] = {}


def country_code(text: str) -> str | None:
    """ISO 3166-1 alpha-2 for a code (``de``, ``DEU``) or an English name (``Germany``)."""
    key = text.strip().casefold()
    if key not in _COUNTRY_CACHE:
        if key == "uk":
            code: str | None = "GB"
        else:
            try:
                code = pycountry.countries.lookup(key).alpha_2
            except LookupError:
                code = None
        if len(_COUNTRY_CACHE) < 10_000:
            _COUNTRY_CACHE[key] = code
        return code
    return _COUNTRY_CACHE[key]
