"""The EMREG lists: the legacy one (v1 JSON) and the EMREX 2.0 one (v2 JSON) -> :class:`Emp`.

Each entry is read with the field readers and caps of :mod:`emrex_emc.core.registry_entries`;
:func:`emrex_emc.core.registry_parse.parse_registry` tells the format by the content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from emrex_emc.core.json_input import parse_json
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import CoveredInstitution, Emp, Emrex2Endpoints, emp_id, url_origin
from emrex_emc.core.registry_entries import (
    MAX_DATA_FORMATS,
    MAX_TIMESTAMP_CHARS,
    NOTICE_ENTRY_SKIPPED,
    Collector,
    ParsedRegistry,
    SkipEntry,
    check_size,
    country_code,
    emp_name,
    emp_url,
    institution_names,
    pem_or_base64_der,
    registry_invalid,
    rsa_public_key_der,
)
from emrex_emc.core.text import clip

# --- EMREG v1 JSON (load_json reads either version) ------------------------------------------------


def parse_emreg_json(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """The legacy EMREG list: ``{"countries": [...], "emps": [...]}`` (older lists: ``ncps``)."""
    return emreg_list(load_json(data), allow_loopback_http)


def emreg_list(document: Any, allow_loopback_http: bool) -> ParsedRegistry:
    """The EMPs of an EMREG v1 list already read by :func:`load_json`."""
    if not isinstance(document, dict):
        raise registry_invalid("the EMREG list must be a JSON object with an 'emps' (or 'ncps') array")
    entries = document.get("emps", document.get("ncps"))
    if not isinstance(entries, list):
        raise registry_invalid("the EMREG list has no 'emps' (or older 'ncps') array")
    out = Collector(source="emreg")
    single_fetch = _single_fetch_countries(document.get("countries"), out)
    return out.collect("EMREG", entries, lambda entry: _emreg_emp(entry, single_fetch, allow_loopback_http, out))


def load_json(data: bytes) -> Any:
    """An EMREG list (either version) as JSON: bounded in size, valid UTF-8, else ``REGISTRY_INVALID``."""
    check_size(data, "the EMREG list")
    text = data.decode("utf-8-sig", errors="replace")
    try:
        document = parse_json(text)
    except json.JSONDecodeError as exc:
        raise registry_invalid(
            f"the EMREG list is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise registry_invalid(f"the EMREG list is not valid JSON: {exc}") from None
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise registry_invalid(f"the EMREG list is not valid UTF-8 (byte offset {exc.start})") from None
    return document


def _single_fetch_countries(countries: Any, out: Collector) -> frozenset[str]:
    if countries is None:
        return frozenset()
    if not isinstance(countries, list):
        raise registry_invalid("the EMREG 'countries' field must be an array")
    codes: set[str] = set()
    for country in countries:
        if not isinstance(country, Mapping) or not isinstance(country.get("countryCode"), str):
            out.notice(NOTICE_ENTRY_SKIPPED, "an EMREG country without a countryCode was ignored")
            continue
        flag = country.get("singleFetch", False)
        if flag is True or (isinstance(flag, str) and flag.strip().lower() == "true"):
            codes.add(country["countryCode"].strip().upper())
    return frozenset(codes)


def _emreg_emp(entry: Any, single_fetch: frozenset[str], allow_loopback_http: bool, out: Collector) -> Emp:
    if not isinstance(entry, Mapping):
        raise SkipEntry("is not a JSON object")
    name = emp_name(_json_text(entry, "acronym"), "'acronym'")
    url = emp_url(_json_text(entry, "url"), allow_loopback_http)
    country = country_code(_json_text(entry, "countryCode"))
    label = f"{name} ({country})"
    raw_institutions = entry.get("institutions") or []
    if not isinstance(raw_institutions, list):
        raise SkipEntry(f"({label}) has 'institutions' that is not an array")
    try:
        certificate = pem_or_base64_der(_json_text(entry, "pubKey"))
    except ValueError as exc:
        raise SkipEntry(f"({label}) has an unreadable 'pubKey' certificate ({clip(exc)})") from None
    institutions = institution_names(raw_institutions, label, out)
    return Emp(
        id=emp_id(country, url),
        name=name,
        url=url,
        country=country,
        institutions=institutions,
        certificates=(certificate,),
        single_fetch=country in single_fetch,
        source="emreg",
        covered=tuple(CoveredInstitution(names=((None, institution),)) for institution in institutions),
    )


def _json_text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SkipEntry(f"has no '{key}'")
    return value.strip()


# --- EMREG v2 JSON (EMREX 2.0) -----------------------------------------------------------------------


def parse_emreg2_json(data: bytes, *, allow_loopback_http: bool = False) -> ParsedRegistry:
    """The EMREX 2.0 EMREG list: ``{"emp_list": [...]}`` or a bare array of EMP records.

    Each record in EMREG.md's camelCase (``name``, ``publicKey``, ``country.isoCode``, ``institutions[].name``,
    ``emreg2Props.{authorizationUrl, tokenUrl, resourceUrl, pingUrl, supportedDataFormats}``,
    ``activeByDateTimeUtc``) or in the README's snake_case (``acronym``, ``country``, ``institutions``,
    ``authorization_url``, ``token_url``, ``resource_url``, ``public_key``); a record may mix both.
    """
    return emreg2_list(load_json(data), allow_loopback_http)


def emreg2_list(document: Any, allow_loopback_http: bool) -> ParsedRegistry:
    """The EMPs of an EMREG v2 list already read by :func:`load_json`."""
    entries = document.get("emp_list") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise registry_invalid("the EMREG v2 list has no 'emp_list' array")
    out = Collector(source="emreg2")
    return out.collect("EMREG v2", entries, lambda entry: _emreg2_emp(entry, allow_loopback_http, out))


def _emreg2_emp(entry: Any, allow_loopback_http: bool, out: Collector) -> Emp:
    if not isinstance(entry, Mapping):
        raise SkipEntry("is not a JSON object")
    props = entry.get("emreg2Props")
    props = props if isinstance(props, Mapping) else {}
    name = emp_name(_first_text(entry, ("name", "acronym"), localized=True), "'name'")
    country_field = entry.get("country")
    country = country_code(
        _first_text(country_field, ("isoCode",))
        if isinstance(country_field, Mapping)
        else _first_text(entry, ("country", "countryCode"))
    )
    label = f"{name} ({country})"
    loopback = allow_loopback_http
    endpoints = Emrex2Endpoints(
        authorization_url=emp_url(_endpoint(entry, props, "authorizationUrl", "authorization_url"), loopback),
        token_url=emp_url(_endpoint(entry, props, "tokenUrl", "token_url"), loopback),
        resource_url=emp_url(_endpoint(entry, props, "resourceUrl", "resource_url"), loopback),
        ping_url=_optional_url(entry, props, allow_loopback_http),
        data_formats=_data_formats(props.get("supportedDataFormats") or entry.get("supported_data_formats")),
    )
    try:
        public_key = rsa_public_key_der(_first_text(entry, ("publicKey", "public_key")))
    except ValueError as exc:
        raise SkipEntry(f"({label}) has an unusable 'publicKey' ({clip(exc)})") from None
    raw_institutions = entry.get("institutions") or []
    if not isinstance(raw_institutions, list):
        raise SkipEntry(f"({label}) has 'institutions' that is not an array")
    institutions = [item.get("name") if isinstance(item, Mapping) else item for item in raw_institutions]
    single = country_field.get("singleFetch") if isinstance(country_field, Mapping) else False
    return Emp(
        id=emp_id(country, url_origin(endpoints.authorization_url)),
        name=name,
        url=endpoints.authorization_url,
        country=country,
        institutions=institution_names(institutions, label, out),
        single_fetch=single is True or (isinstance(single, str) and single.strip().lower() == "true"),
        source="emreg2",
        protocol=ProtocolVersion.EMREX_2,
        emrex2=endpoints,
        public_key=public_key,
        active_from=_activation(entry.get("activeByDateTimeUtc", props.get("activeByDateTimeUtc")), label),
    )


def render_emreg2_list(emps: Iterable[Emp]) -> bytes:
    """An EMREG v2 list in EMREG.md's camelCase for EMREX 2.0 ``emps`` (for the local runner and tests)."""
    records = []
    for emp in emps:
        if emp.emrex2 is None:
            raise ValueError(f"{emp.name} is not an EMREX 2.0 EMP")
        key = load_der_public_key(emp.public_key)
        props: dict[str, Any] = {
            "authorizationUrl": emp.emrex2.authorization_url,
            "tokenUrl": emp.emrex2.token_url,
            "resourceUrl": emp.emrex2.resource_url,
            "supportedDataFormats": [
                dict(zip(("name", "version"), item.split("-", 1), strict=False)) for item in emp.emrex2.data_formats
            ],
        }
        if emp.emrex2.ping_url:
            props["pingUrl"] = emp.emrex2.ping_url
        record: dict[str, Any] = {
            "name": emp.name,
            "publicKey": key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii"),
            "emreg2Props": props,
            "institutions": [{"name": name} for name in emp.institutions],
            "country": {"isoCode": emp.country, "singleFetch": emp.single_fetch},
        }
        if emp.active_from is not None:
            record["activeByDateTimeUtc"] = emp.active_from.isoformat().replace("+00:00", "Z")
        records.append(record)
    return json.dumps({"emp_list": records}, indent=2, ensure_ascii=False).encode("utf-8")


def _first_text(entry: Mapping[str, Any], keys: Sequence[str], *, localized: bool = False) -> str:
    """The first of ``keys`` holding text; a localized name (``{"en": ..., "nl": ...}``) gives its English text."""
    for key in keys:
        value = entry.get(key)
        if localized and isinstance(value, Mapping):
            value = value.get("en") or next((v for v in value.values() if isinstance(v, str)), None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise SkipEntry(f"has no '{keys[0]}'")


def _endpoint(entry: Mapping[str, Any], props: Mapping[str, Any], camel: str, snake: str) -> str:
    for source, key in ((props, camel), (entry, snake), (entry, camel)):
        value = source.get(key)
        if isinstance(value, str) and value.strip():
            if "#" in value:  # RFC 6749 §3.1: an OAuth endpoint URL has no fragment
                raise SkipEntry(f"has '{camel}' {clip(value)!r}, which holds a fragment")
            return value.strip()
    raise SkipEntry(f"has no 'emreg2Props.{camel}' (or '{snake}')")


def _optional_url(entry: Mapping[str, Any], props: Mapping[str, Any], allow_loopback_http: bool) -> str | None:
    try:
        return emp_url(_endpoint(entry, props, "pingUrl", "ping_url"), allow_loopback_http)
    except SkipEntry:
        return None


def _data_formats(value: Any) -> tuple[str, ...]:
    """``[{"name": "elmo", "version": "2.1"}]`` or ``["elmo-2.1"]`` -> ``("elmo-2.1",)`` (clipped, at most 20)."""
    if not isinstance(value, list):
        return ()
    formats: list[str] = []
    for item in value[:MAX_DATA_FORMATS]:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            version = item.get("version")
            text = f"{item['name']}-{version}" if isinstance(version, str | int | float) else item["name"]
        elif isinstance(item, str):
            text = item
        else:
            continue
        if clipped := clip(text, 40):
            formats.append(clipped)
    return tuple(formats)


def _activation(value: Any, label: str) -> datetime | None:
    """``activeByDateTimeUtc`` as an aware UTC datetime (no zone means UTC, as the name says)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TIMESTAMP_CHARS:
        raise SkipEntry(f"({label}) has an 'activeByDateTimeUtc' that is not a date-time text")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise SkipEntry(f"({label}) has 'activeByDateTimeUtc' {clip(value)!r}, which is not ISO 8601") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
