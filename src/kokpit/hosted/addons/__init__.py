"""Addons of hosted clusters: Jinja2 templates with parameters and defaults, rendered into objects that
are server-side applied into the cluster and pruned by label when they go away."""

from kokpit.hosted.addons.catalog import (
    ALWAYS_INSTALLED,
    DEFAULT_ADDONS,
    DEFINITION_LABEL,
    AddonDefinition,
    AddonError,
    Catalog,
    builtin,
    configmap_data,
    configmap_name,
    from_configmap,
    load_set,
)
from kokpit.hosted.addons.render import (
    ADDON_LABEL,
    AddonRequest,
    ClusterFacts,
    RenderedAddon,
    object_ref,
    parse_ref,
    render,
    select,
    to_prune,
)

__all__ = [
    "ADDON_LABEL",
    "ALWAYS_INSTALLED",
    "DEFAULT_ADDONS",
    "DEFINITION_LABEL",
    "AddonDefinition",
    "AddonError",
    "AddonRequest",
    "Catalog",
    "ClusterFacts",
    "RenderedAddon",
    "builtin",
    "configmap_data",
    "configmap_name",
    "from_configmap",
    "load_set",
    "object_ref",
    "parse_ref",
    "render",
    "select",
    "to_prune",
]
