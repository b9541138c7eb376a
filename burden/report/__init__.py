"""The HTML report: inputs gathered from the saved models (collect), figures, key numbers,
sources and provenance, assembled by ``build.build_report`` / ``build.build_from_saved``."""
