"""Where :func:`survey` and its helpers lived before the pipeline package: re-exported for existing code.

New code imports them from :mod:`vibmag.pipeline`.
"""

from .pipeline.surveying import band_around, dominant_band, motion_maps, peak_table, plot_survey, survey

__all__ = ["survey", "dominant_band", "band_around", "motion_maps", "peak_table", "plot_survey"]
