-- gridgeo schema 0060: filing that the city can trust (issue 13).
--
-- Each county (or a prefix of counties) is bound to its profile by an administrator,
-- versioned in time; filing uses the binding valid at filing time, never a default.
-- The binding may name the division that receives the county's filings (otherwise it
-- follows the profile's filing_level and the code scheme: gridgeo.registry.routing).

CREATE TABLE registry.profile_binding (
    binding_id    bigserial PRIMARY KEY,
    division_code text NOT NULL CHECK (division_code <> ''),
    profile       text NOT NULL CHECK (profile <> ''),
    code_pattern  text,
    receiver_code text,
    valid_from    timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to      timestamptz,
    set_by        text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX profile_binding_current_idx
    ON registry.profile_binding (division_code) WHERE valid_to IS NULL;

-- What filing recorded: the profile used, where the household counts came from, the
-- receiving division, and the written reason when rule errors were forced through.
ALTER TABLE registry.changeset
    ADD COLUMN profile            text,
    ADD COLUMN household_source   text CHECK (household_source IN ('points', 'declared')),
    ADD COLUMN receiver_code      text,
    ADD COLUMN force_reason       text,
    ADD COLUMN forced_breaks      jsonb,
    ADD CONSTRAINT changeset_force_reason_check
        CHECK (forced_breaks IS NULL OR jsonb_array_length(forced_breaks) = 0
               OR coalesce(btrim(force_reason), '') <> '');
