"""vibmag's napari plugin (npe2): reader, writers, sample data, and the Magnify and Inspect widgets.

Install with ``pip install "vibmag[napari]"``; napari then lists it under
File > Open, File > Open Sample > vibmag and Plugins > vibmag. The guide is
docs/napari.md.

Modules: :mod:`._layers` (recordings <-> layers), :mod:`._regions` (Shapes and
Labels layers -> masks) and :mod:`._compute` (what the widgets compute, through
vibmag's public functions) have no Qt and are tested without a viewer;
:mod:`._reader`, :mod:`._writer` and :mod:`._sample_data` are the manifest's
commands; :mod:`._widgets` holds the Qt front ends.

Importing this package imports :mod:`vibmag.units`, which makes vibmag's unit
registry pint's application registry. napari builds every layer's units from
that registry and units of two registries cannot be compared (napari's status
bar then fails on every mouse move), so the switch must happen before napari
makes its first layer. That is why the manifest lives in the subpackage
``vibmag.napari.manifest``: npe2 locates it at plugin discovery, when the first
viewer opens, and locating a subpackage imports this package first.
"""

from vibmag import units as _units  # noqa: F401  (pint registry first; see above)

__all__: list[str] = []
