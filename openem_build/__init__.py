"""openem_build: validate, enrich and publish the OpenEM catalogue of electron-microscopy data."""

__version__ = "0.1.0"
