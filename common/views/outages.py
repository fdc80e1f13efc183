"""Saved addresses and their outage alerts, the same in every bot: saving an address found with /address, and
the answers of the command that shows, switches or forgets them (each bot adds how to type it)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from common.dtek.address import StreetAddress
from common.i18n import Catalog
from common.views.address import HouseLookup, saved_address_lines
from common.views.settings import read_switch

FORGET_WORDS = frozenset({"forget", "delete", "забути", "видалити"})


class OutagesCommand(StrEnum):
    SHOW = "show"
    ON = "on"
    OFF = "off"
    FORGET = "forget"


class AddressStore(Protocol):
    """What saving and switching need of the bot's database."""

    async def save_address(self, recipient_id: str, address: StreetAddress) -> None: ...
    async def forget_addresses(self, recipient_id: str) -> int: ...
    async def saved_addresses(self, recipient_id: str) -> list[StreetAddress]: ...
    async def set_outage_alerts(self, recipient_id: str, on: bool) -> None: ...
    async def wants_outage_alerts(self, recipient_id: str) -> bool: ...


def read_outages_command(text: str) -> OutagesCommand | None:
    """What was typed after the command: nothing shows, on/off switch (either language), forget deletes; None
    when it is none of these."""
    word = text.strip().lower()
    if not word:
        return OutagesCommand.SHOW
    if word in FORGET_WORDS:
        return OutagesCommand.FORGET
    switch = read_switch(word)
    if switch is None:
        return None
    return OutagesCommand.ON if switch else OutagesCommand.OFF


async def save_for_alerts(store: AddressStore, recipient_id: str, address: StreetAddress) -> None:
    """Saves ``address`` (replacing the one saved in its region) with its outage alerts on: the button that
    saves it says so, so pressing it is the opt-in."""
    await store.save_address(recipient_id, address)
    await store.set_outage_alerts(recipient_id, True)


async def outages_answer(
    store: AddressStore, lookup: HouseLookup, recipient_id: str, command: OutagesCommand, t: Catalog
) -> list[str]:
    """Carries out ``command`` for the recipient and says what is now: the lines of the answer."""
    addresses = await store.saved_addresses(recipient_id)
    if command is OutagesCommand.FORGET:
        await store.forget_addresses(recipient_id)
        await store.set_outage_alerts(recipient_id, False)
        return [t("outages.forgotten")]
    if not addresses:
        return [t("outages.none")]
    if command is OutagesCommand.SHOW:
        on = await store.wants_outage_alerts(recipient_id)
        state = t("outages.state_on") if on else t("outages.state_off")
        return [state, *await saved_address_lines(lookup, addresses, t)]
    await store.set_outage_alerts(recipient_id, command is OutagesCommand.ON)
    return [t("outages.on") if command is OutagesCommand.ON else t("outages.off")]


def saved_text(address: StreetAddress, group_names: Sequence[str], t: Catalog) -> str:
    """The word after saving: the address, the groups subscribed, alerts on."""
    return t("outages.saved", address=str(address), groups=", ".join(group_names))
