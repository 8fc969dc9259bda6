-- A workflow triggered by an incoming webhook: the token of its URL, sealed by the server.
ALTER TABLE workflows ADD COLUMN hook_secret TEXT;
