"""The event backbone: Avro schemas, the envelope, outbox, consumers, sagas, projections."""
