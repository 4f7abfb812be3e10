-- gridgeo schema 0125: the satisfaction rating belongs to the case's reporter.
--
-- A case reported through the API gets an evaluation key (评价码), handed to the reporter
-- once; only its SHA-256 is kept here. A public caller rates the case with that key; the
-- centre may record the reporter's rating after a callback (回访), which the event log keeps
-- with its channel. Imported cases have no key: they are rated by callback only.

ALTER TABLE incidents.case
    ADD COLUMN evaluation_key_sha256 text CHECK (evaluation_key_sha256 ~ '^[0-9a-f]{64}$');
