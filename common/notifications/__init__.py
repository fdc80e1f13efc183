"""The notification pipeline, the same for every bot: schedule changes and reminders to chat messages.

    watcher   the baseline check of each new schedule, logging events (``common.changes`` models them)
    feed      the loop handing new schedule versions to the watcher
    fanout    events and reminders into outbox rows, one per subscriber, minding quiet hours
    outbox    the rate-limited sender loop over the outbox, through a platform's :class:`Sender`
    notifier  the background tasks running all of it

Each step depends on a small protocol of what it stores (``WatchStore``, ``EventStore``, ``ReminderStore``,
``OutboxStore``), which the bot's database (``common.botdb``) satisfies. A bot needs only what is exported
here: it implements a :class:`Sender` and starts and stops a :class:`Notifier`. The :class:`OutboxWorker`
alone is for measuring delivery (``benchmarks/``).
"""

from common.notifications.notifier import REMINDER_INTERVAL_SECONDS, Notifier
from common.notifications.outbox import OutboxWorker, Sender, SendOutcome

__all__ = ["REMINDER_INTERVAL_SECONDS", "Notifier", "OutboxWorker", "SendOutcome", "Sender"]
