"""The catalog of vendors and models: data files shipped with CoE, merged with the user's config."""

from coe.catalog.loader import CATEGORIES, Catalog, ModelInfo, VendorInfo, load_catalog

__all__ = ["CATEGORIES", "Catalog", "ModelInfo", "VendorInfo", "load_catalog"]
