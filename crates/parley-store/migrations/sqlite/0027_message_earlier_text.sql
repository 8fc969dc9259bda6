-- An edited message keeps what it said before its latest edit, shown on demand in the inbox.
ALTER TABLE messages ADD COLUMN previous_content TEXT;
