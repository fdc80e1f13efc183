"""What the bots show, before any platform's markup: schedule answers with their picture and the actions
under them, group lookups and their notices, a chat's settings in words, the data's status, and user text made safe to echo.

Each bot is a thin renderer of these into its own markup and buttons, so nothing here knows a platform.
"""

from common.views.address import house_lines, saved_address_lines, with_address_outages
from common.views.echo import ECHO_LIMIT, echo
from common.views.lookup import (
    GroupChoice,
    GroupOption,
    Notice,
    Problem,
    SnapshotSource,
    find_group,
    load_snapshot,
    matching_groups,
    preferred_regions,
    unknown_group,
)
from common.views.schedule import (
    Action,
    ActionKind,
    Picture,
    ScheduleView,
    ViewKind,
    load_schedule_view,
    schedule_view,
)
from common.views.settings import (
    OFF_WORDS,
    alert_settings_line,
    lead_text,
    parse_span,
    quiet_text,
    read_quiet,
    read_switch,
    settings_line,
)
from common.views.status import status_lines

__all__ = [
    "ECHO_LIMIT",
    "OFF_WORDS",
    "Action",
    "ActionKind",
    "GroupChoice",
    "GroupOption",
    "Notice",
    "Picture",
    "Problem",
    "ScheduleView",
    "SnapshotSource",
    "ViewKind",
    "alert_settings_line",
    "echo",
    "find_group",
    "house_lines",
    "lead_text",
    "load_schedule_view",
    "load_snapshot",
    "matching_groups",
    "parse_span",
    "preferred_regions",
    "quiet_text",
    "read_quiet",
    "read_switch",
    "saved_address_lines",
    "schedule_view",
    "settings_line",
    "status_lines",
    "unknown_group",
    "with_address_outages",
]
