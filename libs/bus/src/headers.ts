/**
 * Every header Warden reads or writes on the bus. Documented in the header table of docs/architecture.md (Headers).
 *
 * | header | written by | meaning |
 * |---|---|---|
 * | Nats-Msg-Id | every publisher | event id (events), idempotency key (submissions); JetStream dedupes on it |
 * | traceparent / tracestate | every publisher | W3C trace context of the run |
 * | Warden-Event-Type | event publishers | the envelope's `type`, so filters need not parse JSON |
 * | Warden-Dlq-* | dead-lettering | why and from where a message was dead-lettered |
 */
export const Headers = {
  msgId: 'Nats-Msg-Id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  eventType: 'Warden-Event-Type',
  dlqReason: 'Warden-Dlq-Reason',
  dlqCode: 'Warden-Dlq-Code',
  dlqSubject: 'Warden-Dlq-Subject',
  dlqStream: 'Warden-Dlq-Stream',
  dlqStreamSeq: 'Warden-Dlq-Stream-Seq',
  dlqDeliveries: 'Warden-Dlq-Deliveries',
  dlqConsumer: 'Warden-Dlq-Consumer',
} as const;
