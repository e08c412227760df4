"""The collector's core: component model, registry, pipeline graph and lifecycle."""
