"""mirrorflow's numeric layer: models, mirror-flow integration, diagnostics."""

__all__: list[str] = []
