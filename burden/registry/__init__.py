"""Small typed registries: data, not logic (sources, locations, causes)."""
