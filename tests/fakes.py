"""A pool of fake models (the library's FakeProvider) for engine and API unit tests."""

from __future__ import annotations

from collections.abc import Mapping

from coe.catalog import Catalog, ModelInfo, VendorInfo
from coe.config import Settings
from coe.providers.fake import FakeProvider, FakeScript
from coe.providers.pool import ModelPool
from coe.providers.registry import Registry

FAKE_VENDORS = ("fa", "fb", "fc", "fd")


def fake_pool(scripts: Mapping[str, FakeScript] | None = None, *, models: tuple[str, ...] | None = None,
              settings: Settings | None = None, strengths: Mapping[str, tuple[str, ...]] | None = None,
              prices: Mapping[str, float] | None = None) -> tuple[ModelPool, dict[str, FakeProvider]]:
    """Models ``fa/m`` … ``fd/m`` (one per vendor, all speak zh+en); returns the pool and its providers."""
    ids = models or tuple(f"{v}/m" for v in FAKE_VENDORS)
    vendor_ids = sorted({m.split("/")[0] for m in ids})
    vendors = [VendorInfo(id=v, name=v.upper(), wire="fake", base_url="fake://") for v in vendor_ids]
    infos = [ModelInfo(id=m, vendor=m.split("/")[0], model="m", name=m, context_window=8192, max_output=1024,
                       price_in=(prices or {}).get(m, 1.0), price_out=(prices or {}).get(m, 2.0),
                       tier="strong" if i == 0 else "balanced", languages=("zh", "en"),
                       strengths=(strengths or {}).get(m, ()))
             for i, m in enumerate(ids)]
    providers = {i.id: FakeProvider(i, (scripts or {}).get(i.id)) for i in infos}
    reg = Registry()
    reg.register("fake", lambda info, vendor, ctx: providers[info.id])
    pool = ModelPool(settings or Settings(env={}), catalog=Catalog(vendors, infos, "2026-01-01"), registry=reg)
    return pool, providers
