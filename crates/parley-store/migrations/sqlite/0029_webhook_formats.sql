-- A subscription posts Parley's envelope (`parley`) or Meta's webhooks (`meta`: forwarding to
-- apps written against the Cloud API, signed with the app's secret).
ALTER TABLE webhook_subscriptions ADD COLUMN format TEXT NOT NULL DEFAULT 'parley';
