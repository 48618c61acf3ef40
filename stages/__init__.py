"""DVC pipeline stages: one module per stage, shared code in ``stages.lib``."""
