-- The applicant's declared identity (what they typed into the card application: surname, given names,
-- date of birth) on a capture link, sealed under the subject's data key like the link's other personal
-- data; NULL when the link was made without one. (postgres flavour, kept in step with ../sqlite/0004_declared_identity.sql.)
-- A verification's declared identity and the document data read from its MRZ are sealed items in
-- `media` (kinds declared_identity and document_data): no column needed.
ALTER TABLE capture_links ADD COLUMN declared_sealed BYTEA;
ALTER TABLE capture_links ADD COLUMN declared_key_id TEXT;
