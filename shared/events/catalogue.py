"""The index of the event catalogue: every declared event model, context by context.

An event is declared once, in the module of its context, with `shared.events.declaration.event`; this
index finds it there. A new context module is added to `CONTEXTS`.
"""

from __future__ import annotations

from shared.events import case, casework, dedup, forwarding, intake, notification, residents, routing
from shared.events.declaration import events_in
from shared.events.envelope import EventData

CONTEXTS = (intake, case, casework, routing, dedup, notification, residents, forwarding)

ALL_EVENTS: tuple[type[EventData], ...] = events_in(*CONTEXTS)
