-- A file is fetched through the connection that delivered its message (issue 20): after a
-- number moves to another provider, the old provider's late messages still carry files only
-- the old provider can hand out. The webhook key names that connection (the channel's own,
-- or a past one in channel_connections); NULL on rows from before: the channel's connection.
ALTER TABLE media ADD COLUMN connection_key TEXT;
