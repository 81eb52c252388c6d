"""Build a FollowIR benchmark from your own collection: the paper's section 3, as resumable steps that exchange
files in one work folder (``followir build-benchmark`` chains them; each is its own subcommand).

1. ``topics``: pick TREC topics (with narratives) and their og qrels (:mod:`.topics`);
2. ``narratives``: a changed, narrower narrative per topic, written by people or drafted by a generator and
   accepted by a person (:mod:`.narratives`);
3. ``judging`` and ``judgements``: re-judge only the og-relevant documents against the changed narrative
   (``followir judge``, or a judgements file) (:mod:`.judgements`);
4. ``candidates``: 400-word passages with a 200-word overlap, ranked by a pool of retrieval models, MaxP per
   document, every judged-relevant document plus the top others up to N per query (:mod:`.candidates`);
5. ``output``: both hub layouts, a dataset card with the paper's Table 1 statistics, the changed documents and a
   validation report (:mod:`.output`); ``followir publish`` uploads it (:mod:`.publish`).
"""
