"""ORM models of the transactional core, one module per domain; import them all from here."""

from serving.core.models.activity import Event, EventType, Order
from serving.core.models.base import Base
from serving.core.models.campaigns import (
    Campaign,
    CampaignArm,
    CampaignChannel,
    CampaignStatus,
    Exposure,
)
from serving.core.models.coupons import (
    CouponCode,
    CouponCustomerUsage,
    CouponDefinition,
    DiscountType,
    Offer,
    Redemption,
)
from serving.core.models.crm import (
    ApiKey,
    Customer,
    Lead,
    LeadSource,
    LeadStatus,
    Role,
    User,
)

__all__ = [
    "ApiKey",
    "Base",
    "Campaign",
    "CampaignArm",
    "CampaignChannel",
    "CampaignStatus",
    "CouponCode",
    "CouponCustomerUsage",
    "CouponDefinition",
    "Customer",
    "DiscountType",
    "Event",
    "EventType",
    "Exposure",
    "Lead",
    "LeadSource",
    "LeadStatus",
    "Offer",
    "Order",
    "Redemption",
    "Role",
    "User",
]
