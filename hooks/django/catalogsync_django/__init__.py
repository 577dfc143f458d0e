"""catalogsync producer hook for Django: product saves and deletes become
contract-v1 events on Kafka (docs/EVENTS.md), through a transactional outbox
(default) or directly on commit.  See hooks/django/README.md."""
