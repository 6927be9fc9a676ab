"""The transactional core: customers, leads, campaigns, offers, coupons, orders, events."""
