-- The Cloud-API-compatible endpoint finds a customer's file by the provider's media id.
CREATE INDEX media_provider_id ON media (workspace_id, provider_media_id);
