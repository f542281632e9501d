"""If-Match parsing and the version check, without HTTP."""

from __future__ import annotations

import pytest

from bizos.core.errors import Unprocessable, VersionConflict
from bizos.core.versions import check_version, parse_if_match, version_etag


@pytest.mark.parametrize("value", ["3", '"3"', 'W/"3"', ' W/"3" ', '"2", "3"', "*"])
def test_the_current_version_in_any_spelling_passes(value: str) -> None:
    check_version(value, 3)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_if_match_means_an_unconditional_update(value: str | None) -> None:
    check_version(value, 7)


@pytest.mark.parametrize("value", ["2", '"4"', 'W/"1"', '"1", "2"'])
def test_a_stale_version_is_a_conflict(value: str) -> None:
    with pytest.raises(VersionConflict) as raised:
        check_version(value, 3)
    assert raised.value.status == 409
    assert "version 3" in raised.value.detail


@pytest.mark.parametrize("value", ["abc", "W/abc", "3.0", "-1", '"3', "W/", "1,,2"])
def test_a_malformed_if_match_is_unprocessable_with_the_header_path(value: str) -> None:
    with pytest.raises(Unprocessable) as raised:
        check_version(value, 3)
    assert raised.value.errors == [{"loc": ["header", "If-Match"], "msg": "not a version"}]


def test_the_etag_we_send_parses_back_to_its_version() -> None:
    assert parse_if_match(version_etag(12)) == [12]
    assert parse_if_match("*") is None
