-- Demo source for the freshness connector: 10 companies whose data was last updated 1 to 36 hours ago,
-- 3 of them more than 24 hours ago (30 % stale), and a view that labels each company 'Stale data' or
-- 'Fresh data', readable by the user freshness_reader (password change-me) that
-- connectors/freshness/secrets.example.json names. Safe to run again: it refreshes the ages to "now" and
-- changes nothing else.

CREATE TABLE IF NOT EXISTS customer_data (
    company_id   integer PRIMARY KEY,
    company_name text        NOT NULL,
    plan         text        NOT NULL,
    row_count    bigint      NOT NULL DEFAULT 0,
    last_updated timestamptz NOT NULL
);

-- The freshness query filters and sorts on the update time; the primary key serves the connector's
-- keyset paging (WHERE company_id > $1 ORDER BY company_id).
CREATE INDEX IF NOT EXISTS customer_data_last_updated_idx ON customer_data (last_updated);
CREATE INDEX IF NOT EXISTS customer_data_plan_idx ON customer_data (plan);

INSERT INTO customer_data (company_id, company_name, plan, row_count, last_updated)
SELECT company_id, company_name, plan, row_count, now() - make_interval(hours => hours_ago)
  FROM (VALUES
    (1,  'Acme Corp',          'enterprise', 120000,  1),
    (2,  'Globex',             'enterprise',  98000,  2),
    (3,  'Initech',            'team',        15000,  4),
    (4,  'Umbrella',           'enterprise', 210000,  6),
    (5,  'Hooli',              'team',        43000,  9),
    (6,  'Stark Industries',   'enterprise', 187000, 12),
    (7,  'Wayne Enterprises',  'team',        27000, 18),
    (8,  'Soylent',            'starter',      3100, 26),
    (9,  'Tyrell',             'starter',      5200, 30),
    (10, 'Cyberdyne',          'team',        12800, 36)
  ) AS seed (company_id, company_name, plan, row_count, hours_ago)
ON CONFLICT (company_id) DO UPDATE
   SET company_name = EXCLUDED.company_name,
       plan         = EXCLUDED.plan,
       row_count    = EXCLUDED.row_count,
       last_updated = EXCLUDED.last_updated;

-- One row per company with its freshness status: stale when not updated in the last 24 hours.
CREATE OR REPLACE VIEW customer_data_freshness AS
SELECT company_id,
       company_name,
       last_updated,
       round((extract(epoch FROM now() - last_updated) / 3600)::numeric, 1)::double precision AS hours_since_update,
       CASE WHEN last_updated < now() - interval '24 hours' THEN 'Stale data' ELSE 'Fresh data' END AS freshness_status
  FROM customer_data;

-- The default freshness query (the freshness_query secret in connectors/freshness/secrets.example.json):
--
--   SELECT company_id, company_name, last_updated, hours_since_update, freshness_status
--     FROM customer_data_freshness

-- The connector's user: SELECT on what the freshness query reads and nothing more. A role belongs to the
-- whole server, so another database's setup may have created it already (or be creating it right now).
DO $$
BEGIN
  CREATE ROLE freshness_reader LOGIN PASSWORD 'change-me';
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
GRANT SELECT ON customer_data, customer_data_freshness TO freshness_reader;
