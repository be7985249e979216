"""virtualrep core: settings, typed messages, storage, dispatcher, pipeline, app wiring and CLI."""
