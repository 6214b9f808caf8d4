-- Webhooks: the endpoints operators register, and the outbox of their
-- deliveries. A delivery row is written in the transaction of the event it
-- announces (a job's end, a price write), so an event is never announced
-- without having happened, nor lost once it has.

CREATE TABLE webhook_endpoints (
    id          uuid PRIMARY KEY,
    url         text NOT NULL CHECK (url <> ''),
    -- The HMAC-SHA256 key; shown once, when the endpoint is registered.
    secret      text NOT NULL CHECK (length(secret) >= 16),
    -- Comma-separated event types, or '*' for every event.
    events      text NOT NULL CHECK (events <> ''),
    description text NOT NULL DEFAULT '',
    enabled     boolean NOT NULL DEFAULT true,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    -- No foreign key: removing an endpoint deletes its deliveries itself,
    -- and an event recorded while it is being removed must not fail the
    -- price write or the job's end it belongs to (senders drop a delivery
    -- whose endpoint is gone).
    endpoint_id     uuid NOT NULL,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    payload         text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    -- The process sending it now, until claimed_until (a sender that dies
    -- mid-attempt loses its claim when the time passes).
    claimed_by      text,
    claimed_until   timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CONSTRAINT webhook_deliveries_finished CHECK ((state = 'pending') = (finished_at IS NULL))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id);
