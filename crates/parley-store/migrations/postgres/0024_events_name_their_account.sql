-- Every event names what the visibility filter needs (issue 15, point 5): its channel, or the
-- WhatsApp Business Account it is about (templates belong to an account, i.e. to the channels
-- with that `waba_id`), or neither when it is about the whole workspace (contacts, users,
-- teams, imports). See the `events` query in src/sql/events.rs for the rule per kind.
ALTER TABLE events ADD COLUMN waba_id TEXT;

-- Earlier events written without their channel or account get it back, so an agent reading
-- the log from its start sees no more of a private number than of a new one.
UPDATE events SET channel_id = (SELECT m.channel_id FROM messages m WHERE m.id = events.subject_id)
    WHERE channel_id IS NULL AND kind = 'message.status';
UPDATE events SET channel_id = subject_id WHERE channel_id IS NULL AND kind = 'channel.health_changed';
UPDATE events SET waba_id = payload::jsonb ->> 'waba_id'
    WHERE channel_id IS NULL AND kind IN ('template.submitted', 'template.updated', 'template.deleted', 'templates.synced');
