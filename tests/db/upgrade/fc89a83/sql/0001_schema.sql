-- 0001_schema.sql -- operators, sources and their weights, leads and contacts
--
-- The schema enforces what it can: foreign keys, the unique (source, operator) pair, unique
-- normalised lead email, positive weights, non-negative limits and counts, status values.
-- operators.active_contacts is the exact number of the operator's contacts whose status is
-- 'active'; it changes only in the same transaction as the contacts it counts, so the
-- distribution can check the limit with one conditional row update.

CREATE TABLE operators (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    is_active       boolean NOT NULL DEFAULT true,
    max_load_limit  integer NOT NULL CHECK (max_load_limit >= 0),
    active_contacts integer NOT NULL DEFAULT 0 CHECK (active_contacts >= 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sources (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 200),
    description text CHECK (description IS NULL OR char_length(description) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE source_operators (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id   bigint NOT NULL REFERENCES sources (id),
    operator_id bigint NOT NULL REFERENCES operators (id),
    weight      integer NOT NULL CHECK (weight > 0),
    UNIQUE (source_id, operator_id)
);
CREATE INDEX source_operators_operator_idx ON source_operators (operator_id);

CREATE TABLE leads (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL UNIQUE
               CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES leads (id),
    source_id   bigint NOT NULL REFERENCES sources (id),
    operator_id bigint REFERENCES operators (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_lead_idx ON contacts (lead_id, id);
CREATE INDEX contacts_source_idx ON contacts (source_id, id);
CREATE INDEX contacts_operator_idx ON contacts (operator_id, id);
-- the queue of contacts waiting for an operator, oldest first per source
CREATE INDEX contacts_waiting_idx ON contacts (source_id, id)
    WHERE operator_id IS NULL AND status = 'active';
