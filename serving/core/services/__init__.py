"""Use cases of the core. Each public function takes a keyword-only `session` and commits once;
helpers only add or flush, so what a use case writes is saved together or not at all."""
