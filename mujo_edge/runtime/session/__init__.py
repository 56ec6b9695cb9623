"""Workout sessions: sets (exercise, start, end, repetitions, mean confidence) and rests from a stream of
predictions and raw samples, live and offline (see `tracker` for how), ending in a session log.

```python
from mujo_edge.runtime.session import SessionTracker, config_for_bundle
tracker = SessionTracker(channels, units, manifest.window, config_for_bundle(manifest))
tracker.push_samples(t, xyz)                    # as they arrive
state = tracker.push_prediction(prediction)     # per window: state.status, state.exercise, state.repetitions
log = tracker.finish()                          # log.to_json(), log.to_csv(), log.rows()
```
"""

from mujo_edge.runtime.session.config import DEFAULT_CALIBRATION, SessionConfig, config_for_bundle
from mujo_edge.runtime.session.log import CSV_COLUMNS, EXERCISE, REST, UNKNOWN, RestEntry, SessionLog, SetEntry
from mujo_edge.runtime.session.tracker import (
    SessionState,
    SessionTracker,
    WindowStatus,
    acc_triad,
    periodicity,
    track,
)
from mujo_edge.runtime.session.truth import SetMatch, TrueSet, match_sets

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_CALIBRATION",
    "EXERCISE",
    "REST",
    "UNKNOWN",
    "RestEntry",
    "SessionConfig",
    "SessionLog",
    "SessionState",
    "SessionTracker",
    "SetEntry",
    "SetMatch",
    "TrueSet",
    "WindowStatus",
    "acc_triad",
    "config_for_bundle",
    "match_sets",
    "periodicity",
    "track",
]
