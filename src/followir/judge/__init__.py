"""``followir judge``: a local web page where assessors re-judge og-relevant documents against the changed
narrative (:mod:`.app`), saving every judgement at once to SQLite (:mod:`.store`), with agreement between
assessors and with an optional model (:mod:`.agreement`)."""
