"""The DTEK distribution companies ("regions") and their human names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name_uk: str
    name_en: str

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_uk


REGIONS: dict[str, Region] = {
    region.code: region
    for region in (
        Region("kem", "Київ", "Kyiv"),
        Region("krem", "Київська область", "Kyiv region"),
        Region("oem", "Одеса", "Odesa"),
        Region("dnem", "Дніпро", "Dnipro"),
        Region("dem", "Донецьк", "Donetsk"),
    )
}

DEFAULT_REGIONS = ("kem", "krem", "oem", "dnem")


def validate_region(code: str) -> str:
    """Normalise a region code; a clear ``ValueError`` listing the valid ones otherwise."""
    normalised = code.strip().lower()
    if normalised not in REGIONS:
        raise ValueError(f"unknown region {code!r}; valid regions: {', '.join(REGIONS)}")
    return normalised
