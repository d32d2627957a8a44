-- Parley's audit archive in PostgreSQL: the schema `parley` (store.archive.schema).
-- Generated from src/store/postgres/ddl.ts (`parley archive sql` prints it for any
-- schema); `parley archive init` runs it. PostgreSQL 13 or later, a UTF8 database.
--
-- Roles
--   parley_owner    owns the schema and everything in it; runs the migrations
--                   (`parley archive init --owner-url postgres://parley_owner@…`).
--   the gateway's   the role in store.archive's URL (e.g. parley_gateway): USAGE on the
--   role            schema, SELECT on its tables, EXECUTE on the parley_audit_* functions;
--                   no INSERT, UPDATE, DELETE or TRUNCATE on any table. It appends, trims
--                   and restores only through the functions, which run as the owner.
--   Once, as a superuser:
--     CREATE ROLE parley_owner LOGIN PASSWORD '…';
--     CREATE ROLE parley_gateway LOGIN PASSWORD '…';
--     CREATE DATABASE parley OWNER parley_owner ENCODING 'UTF8';
--   Then, as the owner: parley archive init -c parley.yaml --owner-url postgres://parley_owner:…@db/parley
--   (parley_owner NOLOGIN: log in as a member of it and add --owner-role parley_owner;
--   a single role that owns the schema also works: the gateway then migrates at start).
--
-- Tables
--   schema_version   one row per migration applied (version, applied_at, applied_by).
--   audit_setting    name/value, written by the owner only:
--                      partition           'month' (default) or 'day': the width of new partitions;
--                      min_retention_days  '0' (default): parley_audit_trim refuses to delete a
--                                          record younger than this (or one with no readable time).
--   audit_state      one row: head_seq/head_hash (the last record appended), anchor_seq/
--                    anchor_hash (the trim anchor), kept (how many records are kept).
--   audit_record     the records, PARTITION BY RANGE (at): seq, at (the record's time),
--                    category, kind, decision, outcome, from_network, to_network, terms
--                    (tsvector: body words and key tokens, GIN-indexed), record (the
--                    record's JSON exactly as chained: what verify hashes).
--                    Partitions: audit_record_YYYY_MM (month) or audit_record_YYYY_MM_DD
--                    (day), UTC, [start, next start); audit_record_undated (DEFAULT) holds
--                    records whose time cannot be read. Made on demand before an insert
--                    needs them (and one period ahead, hourly).
--   audit_hold       legal holds the database enforces (the owner adds and lifts them):
--                    person (lower-case user@domain, either party), domain (lower case,
--                    either party), from_at/to_at (the record's time, to exclusive), reason.
--
-- Functions (SECURITY DEFINER: they run as the owner)
--   parley_audit_append(expect_seq, expect_hash, last_hash, seqs, ats, categories, kinds,
--     decisions, outcomes, from_networks, to_networks, terms, records)
--     -> (ok, seq, hash): under an advisory lock, appends only when the head is
--     (expect_seq, expect_hash); the records and the head move in one transaction. It
--     first waits for the turn (a session advisory lock a replica that lost a race holds
--     until its retry: fair turns under load).
--   parley_audit_trim(before_seq bigint, keep bigint[] DEFAULT '{}') -> bigint (removed):
--     retention. Deletes records with seq < before_seq except those in keep and those an
--     audit_hold row covers; drops a whole partition when all of it goes, deletes row by
--     row elsewhere; moves the trim anchor. Raises when a record to delete is younger than
--     min_retention_days.
--   parley_audit_restore(anchor_seq, anchor_hash, seqs, …): migration into an empty archive.
--   parley_audit_partitions(ats timestamptz[], ahead boolean DEFAULT false) -> integer: makes
--     the partitions for these times (ahead: gives up when the table is busy; tried hourly).
--
-- Non-rewriteable: the trigger audit_record_no_update refuses UPDATE for every role, the
-- owner's included; the gateway's role has no DELETE or TRUNCATE right.

-- Migration 1

CREATE SCHEMA IF NOT EXISTS parley;

CREATE TABLE parley.schema_version (
  version integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT current_user
);

CREATE TABLE parley.audit_setting (
  name text PRIMARY KEY CHECK (name IN ('partition', 'min_retention_days')),
  value text NOT NULL,
  CHECK (name <> 'partition' OR value IN ('month', 'day')),
  CHECK (name <> 'min_retention_days' OR value ~ '^[0-9]+$')
);

INSERT INTO parley.audit_setting (name, value) VALUES ('partition', 'month'), ('min_retention_days', '0');

CREATE TABLE parley.audit_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  head_seq bigint,
  head_hash text,
  anchor_seq bigint,
  anchor_hash text,
  kept bigint NOT NULL DEFAULT 0
);

INSERT INTO parley.audit_state (id) VALUES (true);

CREATE TABLE parley.audit_record (
  seq bigint NOT NULL,
  at timestamptz,
  category text NOT NULL,
  kind text NOT NULL,
  decision text NOT NULL,
  outcome text,
  from_network text NOT NULL,
  to_network text NOT NULL,
  terms tsvector NOT NULL,
  record text NOT NULL
) PARTITION BY RANGE (at);

CREATE TABLE parley.audit_record_undated PARTITION OF parley.audit_record DEFAULT;

CREATE INDEX audit_record_seq ON parley.audit_record (seq);

CREATE INDEX audit_record_at ON parley.audit_record (at);

CREATE INDEX audit_record_terms ON parley.audit_record USING gin (terms);

CREATE FUNCTION parley.audit_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit records cannot be changed (%.%, seq %)', TG_TABLE_SCHEMA, TG_TABLE_NAME, OLD.seq
    USING HINT = 'the archive is append-only; records leave only through parley_audit_trim';
END $$;

CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON parley.audit_record
  FOR EACH ROW EXECUTE FUNCTION parley.audit_refuse_update();

CREATE FUNCTION parley.audit_token(key text, value text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE WHEN octet_length(value) <= 256 AND value !~ '[\x01-\x1f]' THEN '#' || key || ':' || value
  ELSE '#' || key || '#' || encode(sha256(convert_to(value, 'UTF8')), 'hex') END
$$;

CREATE FUNCTION parley.audit_hold_query(person text, domain text) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT nullif(concat_ws(' & ',
  '''' || replace(replace(parley.audit_token('u', person), '\', '\\'), '''', '''''') || '''',
  '''' || replace(replace(parley.audit_token('d', domain), '\', '\\'), '''', '''''') || ''''), '')::tsquery
$$;

CREATE TABLE parley.audit_hold (
  id bigserial PRIMARY KEY,
  person text,
  domain text,
  from_at timestamptz,
  to_at timestamptz,
  reason text NOT NULL CHECK (reason <> ''),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT current_user,
  terms_query tsquery GENERATED ALWAYS AS (parley.audit_hold_query(person, domain)) STORED,
  CHECK (person IS NOT NULL OR domain IS NOT NULL OR from_at IS NOT NULL OR to_at IS NOT NULL)
);

CREATE FUNCTION parley.parley_audit_partitions(ats timestamptz[], ahead boolean DEFAULT false) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
  width text;
  lo timestamptz;
  part text;
  made integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(1347570777, 172281078);
  IF ahead THEN PERFORM set_config('lock_timeout', '200ms', true); END IF;
  SELECT value INTO width FROM parley.audit_setting WHERE name = 'partition';
  FOR lo IN SELECT DISTINCT date_trunc(width, a) FROM unnest(ats) a WHERE a IS NOT NULL LOOP
    part := 'audit_record_' || to_char(lo, CASE width WHEN 'day' THEN 'YYYY_MM_DD' ELSE 'YYYY_MM' END);
    IF to_regclass('parley.' || part) IS NULL THEN
      BEGIN
        EXECUTE format('CREATE TABLE parley.%I PARTITION OF parley.audit_record FOR VALUES FROM (%L) TO (%L)',
          part, lo, lo + ('1 ' || width)::interval);
        made := made + 1;
      EXCEPTION WHEN invalid_object_definition OR duplicate_table THEN
        NULL; -- made meanwhile, or one of another width covers it (the width was changed)
      WHEN lock_not_available THEN
        NULL; -- ahead of time only: the next call makes it
      END;
    END IF;
  END LOOP;
  RETURN made;
END $$;

CREATE FUNCTION parley.parley_audit_append(
  expect_seq bigint, expect_hash text, last_hash text,
  seqs bigint[], ats timestamptz[], categories text[], kinds text[], decisions text[],
  outcomes text[], from_networks text[], to_networks text[], terms text, records text
) RETURNS TABLE (ok boolean, seq bigint, hash text)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
#variable_conflict use_column
DECLARE
  st parley.audit_state;
  n integer := cardinality(seqs);
BEGIN
  -- A replica that lost the last race holds the turn (exclusively) until its retry: wait.
  PERFORM pg_advisory_xact_lock_shared(1347570779, 172281078);
  PERFORM pg_advisory_xact_lock(1347570777, 172281078);
  SELECT * INTO STRICT st FROM parley.audit_state;
  IF coalesce(st.head_seq, 0) <> expect_seq OR coalesce(st.head_hash, '') <> expect_hash THEN
    RETURN QUERY SELECT false, st.head_seq, st.head_hash;
    RETURN;
  END IF;
  IF n IS NULL OR n = 0 THEN
    RETURN QUERY SELECT true, st.head_seq, st.head_hash;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(seqs) WITH ORDINALITY AS x(seq, i) WHERE x.seq <> expect_seq + x.i) THEN
    RAISE EXCEPTION 'audit append: seqs do not continue % one by one', expect_seq;
  END IF;
  PERFORM parley.parley_audit_partitions(ats);
  INSERT INTO parley.audit_record
    (seq, at, category, kind, decision, outcome, from_network, to_network, terms, record)
    SELECT x.seq, x.at, x.category, x.kind, x.decision, x.outcome, x.from_network, x.to_network,
      x.terms::tsvector, x.record
    FROM unnest(seqs, ats, categories, kinds, decisions, outcomes, from_networks, to_networks,
        string_to_array(terms, E'\n'), string_to_array(records, E'\n'))
      AS x(seq, at, category, kind, decision, outcome, from_network, to_network, terms, record);
  UPDATE parley.audit_state SET head_seq = seqs[n], head_hash = last_hash, kept = kept + n;
  RETURN QUERY SELECT true, seqs[n], last_hash;
END $$;

CREATE FUNCTION parley.parley_audit_restore(
  a_seq bigint, a_hash text,
  seqs bigint[], ats timestamptz[], categories text[], kinds text[], decisions text[],
  outcomes text[], from_networks text[], to_networks text[], terms text, records text
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
  st parley.audit_state;
BEGIN
  PERFORM pg_advisory_xact_lock(1347570777, 172281078);
  SELECT * INTO STRICT st FROM parley.audit_state;
  IF st.head_seq IS NOT NULL OR st.anchor_seq IS NOT NULL OR EXISTS (SELECT 1 FROM parley.audit_record) THEN
    RAISE EXCEPTION 'audit restore: the log is not empty';
  END IF;
  PERFORM parley.parley_audit_partitions(ats);
  INSERT INTO parley.audit_record
    (seq, at, category, kind, decision, outcome, from_network, to_network, terms, record)
    SELECT x.seq, x.at, x.category, x.kind, x.decision, x.outcome, x.from_network, x.to_network,
      x.terms::tsvector, x.record
    FROM unnest(seqs, ats, categories, kinds, decisions, outcomes, from_networks, to_networks,
        string_to_array(terms, E'\n'), string_to_array(records, E'\n'))
      AS x(seq, at, category, kind, decision, outcome, from_network, to_network, terms, record);
  UPDATE parley.audit_state SET head_seq = a_seq, head_hash = a_hash, anchor_seq = a_seq, anchor_hash = a_hash,
    kept = coalesce(cardinality(seqs), 0);
END $$;

CREATE FUNCTION parley.parley_audit_trim(before_seq bigint, keep bigint[] DEFAULT '{}') RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
  st parley.audit_state;
  cut bigint;
  min_days integer;
  young bigint;
  h text;
  p record;
  top bigint;
  n bigint;
  held boolean;
  removed bigint := 0;
  gone bigint;
BEGIN
  keep := coalesce(keep, '{}');
  PERFORM pg_advisory_xact_lock(1347570777, 172281078);
  SELECT * INTO STRICT st FROM parley.audit_state;
  IF st.head_seq IS NULL THEN RETURN 0; END IF;
  cut := least(before_seq, st.head_seq + 1);
  IF cut - 1 < 1 THEN RETURN 0; END IF;
  SELECT value::integer INTO min_days FROM parley.audit_setting WHERE name = 'min_retention_days';
  IF coalesce(min_days, 0) > 0 THEN
    SELECT r.seq INTO young FROM parley.audit_record r
      WHERE r.seq < cut AND (r.at IS NULL OR r.at > now() - make_interval(days => min_days))
        AND NOT r.seq = ANY (keep)
        AND NOT EXISTS (SELECT 1 FROM parley.audit_hold x WHERE (x.terms_query IS NULL OR r.terms @@ x.terms_query)
          AND (x.from_at IS NULL OR r.at >= x.from_at) AND (x.to_at IS NULL OR r.at < x.to_at))
      LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'audit trim refused: record % is younger than the minimum retention of % days', young, min_days
        USING HINT = 'audit_setting min_retention_days is set by the archive owner';
    END IF;
  END IF;
  -- The anchor first (never backwards): the record just before the cut.
  IF cut - 1 > coalesce(st.anchor_seq, 0) THEN
    SELECT r.record::json ->> 'hash' INTO h FROM parley.audit_record r WHERE r.seq = cut - 1;
    IF h IS NOT NULL THEN
      UPDATE parley.audit_state SET anchor_seq = cut - 1, anchor_hash = h;
    END IF;
  END IF;
  FOR p IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'parley.audit_record'::regclass AND c.relname <> 'audit_record_undated'
    ORDER BY c.relname
  LOOP
    EXECUTE format('SELECT max(seq) FROM parley.%I', p.relname) INTO top;
    CONTINUE WHEN top IS NULL OR top >= cut;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM parley.%1$I r WHERE r.seq = ANY ($1))
      OR EXISTS (SELECT 1 FROM parley.audit_hold x WHERE EXISTS (SELECT 1 FROM parley.%1$I r
        WHERE (x.terms_query IS NULL OR r.terms @@ x.terms_query)
          AND (x.from_at IS NULL OR r.at >= x.from_at) AND (x.to_at IS NULL OR r.at < x.to_at)))', p.relname)
      INTO held USING keep;
    CONTINUE WHEN held;
    EXECUTE format('SELECT count(*) FROM parley.%I', p.relname) INTO n;
    -- Dropping locks the parent table: when searches hold it, delete the rows one by one
    -- below instead of holding up appends behind them.
    BEGIN
      PERFORM set_config('lock_timeout', '1s', true);
      EXECUTE format('DROP TABLE parley.%I', p.relname);
      PERFORM set_config('lock_timeout', '0', true);
      removed := removed + n;
    EXCEPTION WHEN lock_not_available THEN
      NULL;
    END;
  END LOOP;
  DELETE FROM parley.audit_record r WHERE r.seq < cut AND NOT r.seq = ANY (keep)
    AND NOT EXISTS (SELECT 1 FROM parley.audit_hold x WHERE (x.terms_query IS NULL OR r.terms @@ x.terms_query)
      AND (x.from_at IS NULL OR r.at >= x.from_at) AND (x.to_at IS NULL OR r.at < x.to_at));
  GET DIAGNOSTICS gone = ROW_COUNT;
  removed := removed + gone;
  UPDATE parley.audit_state SET kept = kept - removed;
  RETURN removed;
END $$;

REVOKE ALL ON FUNCTION parley.parley_audit_partitions(timestamptz[], boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION parley.parley_audit_append(bigint, text, text, bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION parley.parley_audit_restore(bigint, text, bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION parley.parley_audit_trim(bigint, bigint[]) FROM PUBLIC;

INSERT INTO parley.schema_version (version) VALUES (1);

-- The gateway's role (parley_gateway): read, and write through the functions only.

GRANT USAGE ON SCHEMA parley TO "parley_gateway";

GRANT SELECT ON parley.schema_version, parley.audit_setting, parley.audit_state, parley.audit_record, parley.audit_hold TO "parley_gateway";

GRANT EXECUTE ON FUNCTION parley.parley_audit_partitions(timestamptz[], boolean) TO "parley_gateway";

GRANT EXECUTE ON FUNCTION parley.parley_audit_append(bigint, text, text, bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text, text) TO "parley_gateway";

GRANT EXECUTE ON FUNCTION parley.parley_audit_restore(bigint, text, bigint[], timestamptz[], text[], text[], text[], text[], text[], text[], text, text) TO "parley_gateway";

GRANT EXECUTE ON FUNCTION parley.parley_audit_trim(bigint, bigint[]) TO "parley_gateway";
