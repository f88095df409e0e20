"""Help for writing scenarios, before anything runs: ``twin new``, ``twin explain``, the
offered-load estimate, and the JSON Schema and Markdown reference made from the models."""
