"""The core every layer stands on: errors (:mod:`.errors`), the settings schema (:mod:`.settings`),
classification metrics (:mod:`.metrics`), atomic file writes (:mod:`.io`), provenance (:mod:`.provenance`:
canonical JSON, config ids, versions), seeds (:mod:`.seeding`), progress output (:mod:`.progress`) and
natural ordering (:mod:`.text`). It imports nothing else of harcnn."""
