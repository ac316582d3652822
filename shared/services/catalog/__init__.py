"""Use cases of the catalog, one object per resource: what the v1 catalog routes and the v2
companion routes call. Rules that differ live in the resource's own module."""

from shared.domain.models import BusinessUnit, CatalogModel, CustomForm, Manufacturer, Person, Vendor
from shared.repositories import catalog as repo
from shared.services.catalog.asset_types import AssetTypes
from shared.services.catalog.base import Catalog
from shared.services.catalog.companies import Companies
from shared.services.catalog.contracts import Contracts

ASSET_TYPES = AssetTypes()
MANUFACTURERS = Catalog[Manufacturer](repo.MANUFACTURERS)
MODELS = Catalog[CatalogModel](
    repo.MODELS, references={"manufacturer_id": repo.MANUFACTURERS, "asset_type_id": repo.ASSET_TYPES}
)
PEOPLE = Catalog[Person](repo.PEOPLE)
COMPANIES = Companies()
VENDORS = Catalog[Vendor](repo.VENDORS)
CONTRACTS = Contracts()
BUSINESS_UNITS = Catalog[BusinessUnit](repo.BUSINESS_UNITS)
CUSTOM_FORMS = Catalog[CustomForm](repo.CUSTOM_FORMS)

__all__ = [
    "ASSET_TYPES",
    "BUSINESS_UNITS",
    "COMPANIES",
    "CONTRACTS",
    "CUSTOM_FORMS",
    "MANUFACTURERS",
    "MODELS",
    "PEOPLE",
    "VENDORS",
    "Catalog",
]
