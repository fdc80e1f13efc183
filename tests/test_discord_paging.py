"""The pure parts of the Discord pickers: pages of a long list for select menus, their custom_ids, and
what /address makes of typed text (no Discord, not e2e)."""

from __future__ import annotations

import pytest

from discord_bot.cogs.address import clean_house, resolve, suggestions
from discord_bot.pickers import (
    GROUP_PAGE,
    GROUP_SELECT,
    SAVE_GROUP,
    group_page_id,
    group_select_id,
    page_of,
    save_group_id,
)

GROUPS = [f"GPV{n}.{half}" for n in range(1, 15) for half in (1, 2)]  # 28


def test_28_groups_make_two_pages_of_25_and_3() -> None:
    first = page_of(GROUPS, 0)
    assert (len(first.items), first.number, first.count, first.start, first.total) == (25, 0, 2, 0, 28)
    assert (first.has_previous, first.has_next) == (False, True)
    second = page_of(GROUPS, 1)
    assert second.items == ("GPV13.2", "GPV14.1", "GPV14.2")
    assert (second.start, second.has_previous, second.has_next) == (25, True, False)


@pytest.mark.parametrize(("asked", "given"), [(-3, 0), (2, 1), (999, 1)])
def test_a_page_past_either_end_is_the_nearest(asked: int, given: int) -> None:
    assert page_of(GROUPS, asked).number == given


def test_short_and_empty_lists_are_one_page() -> None:
    assert page_of(GROUPS[:25], 0).count == 1
    assert not page_of(GROUPS[:25], 0).has_next
    empty = page_of(list[str](), 4)
    assert (empty.items, empty.number, empty.count) == ((), 0, 1)
    assert page_of(GROUPS, 0, size=10).count == 3
    with pytest.raises(ValueError, match="at least one"):
        page_of(GROUPS, 0, size=0)


def test_custom_ids_round_trip_within_discords_100_characters() -> None:
    select = GROUP_SELECT.fullmatch(group_select_id("krem", 1))
    assert select is not None
    assert (select["region"], select["page"]) == ("krem", "1")
    button = GROUP_PAGE.fullmatch(group_page_id("kem", 0))
    assert button is not None
    assert button["page"] == "0"
    save = SAVE_GROUP.fullmatch(save_group_id("dnem", "GPV12.2"))
    assert save is not None
    assert (save["region"], save["group"]) == ("dnem", "GPV12.2")
    assert len(save_group_id("a" * 20, "G" * 40)) < 100
    assert GROUP_SELECT.fullmatch("sv:kem:GPV3.2:week") is None  # the schedule buttons are not ours


def test_a_house_number_is_cut_and_cleaned() -> None:
    assert clean_house("  22\tА ") == "22 А"
    assert clean_house("1\u202e2\x00") == "12"
    assert len(clean_house("9" * 10_000)) == 20


def test_a_typed_settlement_or_street_resolves_to_dteks_name() -> None:
    settlements = ["м. Київ", "с. Гатне"]
    assert resolve(settlements, "м. Київ") == "м. Київ"
    assert resolve(settlements, "київ") == "м. Київ"
    assert resolve(settlements, "Атлантида") is None
    assert resolve(settlements, "x" * 10_000) is None


def test_suggestions_are_at_most_25_and_skip_names_too_long_for_a_choice() -> None:
    streets = [f"вул. Садова {n}" for n in range(40)] + ["", "вул. " + "Ж" * 120]
    assert len(suggestions(streets, "")) == 25
    assert len(suggestions(streets, "садова")) == 25
    assert suggestions(streets, "ЖЖ") == []
