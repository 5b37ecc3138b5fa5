"""Holds napari.yaml, the plugin's npe2 manifest (entry point ``vibmag.napari.manifest:napari.yaml``)."""
