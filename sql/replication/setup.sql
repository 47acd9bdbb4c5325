-- The replication connector's demo source: the original connector's business tables (customers, suppliers,
-- products, orders, order_items, inventory), each with a region, indexes, updated_at maintained by
-- triggers, the three analysis views, and generate_orders(n) to grow orders to any size for benchmarks.
-- Idempotent: running it again changes nothing (IF NOT EXISTS, OR REPLACE, ON CONFLICT DO NOTHING).

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TABLE IF NOT EXISTS customers (
  customer_id  integer PRIMARY KEY,
  first_name   varchar(100) NOT NULL,
  last_name    varchar(100) NOT NULL,
  email        varchar(255) UNIQUE,
  phone        varchar(30),
  city         varchar(100),
  country      varchar(50),
  region       varchar(50) NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS suppliers (
  supplier_id   integer PRIMARY KEY,
  supplier_name varchar(255) NOT NULL,
  contact_name  varchar(255),
  email         varchar(255),
  country       varchar(50),
  region        varchar(50) NOT NULL,
  is_active     boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS products (
  product_id   varchar(50) PRIMARY KEY,
  product_name varchar(255) NOT NULL,
  category     varchar(100),
  price        numeric(10,2) NOT NULL,
  cost         numeric(10,2),
  supplier_id  integer REFERENCES suppliers (supplier_id),
  region       varchar(50) NOT NULL,
  is_active    boolean NOT NULL DEFAULT true,
  attributes   jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orders (
  order_id      bigserial PRIMARY KEY,
  order_number  varchar(50) NOT NULL,
  customer_id   integer NOT NULL,
  order_date    timestamptz NOT NULL,
  status        varchar(20) NOT NULL DEFAULT 'pending',
  total_amount  numeric(12,2) NOT NULL,
  currency      char(3) NOT NULL DEFAULT 'USD',
  region        varchar(50) NOT NULL,
  shipping_city varchar(100),
  notes         text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS order_items (
  order_id    bigint NOT NULL REFERENCES orders (order_id),
  line_number integer NOT NULL,
  product_id  varchar(50) NOT NULL,
  quantity    integer NOT NULL,
  unit_price  numeric(10,2) NOT NULL,
  total_price numeric(12,2) NOT NULL,
  region      varchar(50) NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, line_number)
);

CREATE TABLE IF NOT EXISTS inventory (
  product_id        varchar(50) NOT NULL,
  warehouse_id      integer NOT NULL,
  quantity_on_hand  integer NOT NULL,
  quantity_reserved integer NOT NULL DEFAULT 0,
  reorder_level     integer NOT NULL DEFAULT 10,
  reorder_quantity  integer NOT NULL DEFAULT 100,
  region            varchar(50) NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (product_id, warehouse_id)
);

CREATE INDEX IF NOT EXISTS customers_region_idx ON customers (region);
CREATE INDEX IF NOT EXISTS customers_updated_at_idx ON customers (updated_at);
CREATE INDEX IF NOT EXISTS suppliers_region_idx ON suppliers (region);
CREATE INDEX IF NOT EXISTS suppliers_updated_at_idx ON suppliers (updated_at);
CREATE INDEX IF NOT EXISTS products_category_idx ON products (category);
CREATE INDEX IF NOT EXISTS products_supplier_idx ON products (supplier_id);
CREATE INDEX IF NOT EXISTS products_updated_at_idx ON products (updated_at);
CREATE INDEX IF NOT EXISTS orders_customer_idx ON orders (customer_id);
CREATE INDEX IF NOT EXISTS orders_region_idx ON orders (region);
CREATE INDEX IF NOT EXISTS orders_status_idx ON orders (status);
CREATE INDEX IF NOT EXISTS orders_updated_at_idx ON orders (updated_at, order_id);
CREATE INDEX IF NOT EXISTS order_items_product_idx ON order_items (product_id);
CREATE INDEX IF NOT EXISTS order_items_updated_at_idx ON order_items (updated_at);
CREATE INDEX IF NOT EXISTS inventory_region_idx ON inventory (region);
CREATE INDEX IF NOT EXISTS inventory_updated_at_idx ON inventory (updated_at);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['customers', 'suppliers', 'products', 'orders', 'order_items', 'inventory'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_set_updated_at', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()', t || '_set_updated_at', t);
  END LOOP;
END;
$$;

INSERT INTO customers (customer_id, first_name, last_name, email, phone, city, country, region) VALUES
  (1001, 'John', 'Smith', 'john.smith@example.com', '+1-555-0101', 'New York', 'USA', 'North America'),
  (1002, 'Jane', 'Doe', 'jane.doe@example.com', '+1-555-0102', 'Los Angeles', 'USA', 'North America'),
  (1003, 'Bob', 'Johnson', 'bob.johnson@example.com', '+1-555-0103', 'Chicago', 'USA', 'North America'),
  (1004, 'Alice', 'Brown', 'alice.brown@example.com', '+44-20-1234-5678', 'London', 'UK', 'Europe'),
  (1005, 'Carlos', 'García', 'carlos.garcia@example.com', '+34-91-123-4567', 'Madrid', 'Spain', 'Europe'),
  (1006, 'Yuki', 'Tanaka', 'yuki.tanaka@example.com', '+81-3-1234-5678', 'Tokyo', 'Japan', 'Asia Pacific'),
  (1007, 'Maria', 'Silva', 'maria.silva@example.com', '+55-11-1234-5678', 'São Paulo', 'Brazil', 'Latin America'),
  (1008, 'David', 'Wilson', 'david.wilson@example.com', '+61-2-1234-5678', 'Sydney', 'Australia', 'Asia Pacific')
ON CONFLICT DO NOTHING;

INSERT INTO suppliers (supplier_id, supplier_name, contact_name, email, country, region) VALUES
  (2001, 'Global Electronics', 'Mike Chen', 'mike.chen@globalelectronics.example', 'USA', 'North America'),
  (2002, 'European Parts Co', 'Hans Müller', 'hans.mueller@europeanparts.example', 'Germany', 'Europe'),
  (2003, 'Asia Pacific Supply', 'Kenji Yamamoto', 'kenji@apsupply.example', 'Japan', 'Asia Pacific'),
  (2004, 'Latin American Goods', 'Carlos Rodríguez', 'carlos@lagoods.example', 'Mexico', 'Latin America')
ON CONFLICT DO NOTHING;

INSERT INTO products (product_id, product_name, category, price, cost, supplier_id, region, attributes) VALUES
  ('PROD-001', 'Laptop Computer', 'Electronics', 999.99, 650.00, 2001, 'North America', '{"ram_gb": 16, "color": "silver"}'),
  ('PROD-002', 'Wireless Mouse', 'Electronics', 29.99, 15.00, 2001, 'North America', '{"buttons": 3}'),
  ('PROD-003', 'Office Chair', 'Furniture', 199.99, 120.00, 2002, 'Europe', '{"adjustable": true}'),
  ('PROD-004', 'Desk Lamp', 'Furniture', 49.99, 25.00, 2002, 'Europe', '{}'),
  ('PROD-005', 'Smartphone', 'Electronics', 699.99, 450.00, 2003, 'Asia Pacific', '{"storage_gb": 256}'),
  ('PROD-006', 'Tablet', 'Electronics', 399.99, 250.00, 2003, 'Asia Pacific', '{}'),
  ('PROD-007', 'Coffee Maker', 'Appliances', 89.99, 55.00, 2004, 'Latin America', '{"cups": 12}'),
  ('PROD-008', 'Blender', 'Appliances', 59.99, 35.00, 2004, 'Latin America', '{}')
ON CONFLICT DO NOTHING;

INSERT INTO orders (order_id, order_number, customer_id, order_date, total_amount, region, status, shipping_city) VALUES
  (1, 'ORD-2024-001', 1001, '2024-01-15 10:30:00+00', 1029.98, 'North America', 'completed', 'New York'),
  (2, 'ORD-2024-002', 1002, '2024-01-16 14:20:00+00', 699.99, 'North America', 'completed', 'Los Angeles'),
  (3, 'ORD-2024-003', 1004, '2024-01-17 09:15:00+00', 249.98, 'Europe', 'completed', 'London'),
  (4, 'ORD-2024-004', 1005, '2024-01-18 16:45:00+00', 399.99, 'Europe', 'pending', 'Madrid'),
  (5, 'ORD-2024-005', 1006, '2024-01-19 11:30:00+00', 729.98, 'Asia Pacific', 'completed', 'Tokyo'),
  (6, 'ORD-2024-006', 1007, '2024-01-20 13:20:00+00', 149.98, 'Latin America', 'pending', 'São Paulo'),
  (7, 'ORD-2024-007', 1008, '2024-01-21 08:45:00+00', 999.99, 'Asia Pacific', 'completed', 'Sydney'),
  (8, 'ORD-2024-008', 1003, '2024-01-22 15:10:00+00', 169.96, 'North America', 'completed', 'Chicago')
ON CONFLICT DO NOTHING;
SELECT setval(pg_get_serial_sequence('orders', 'order_id'), greatest((SELECT max(order_id) FROM orders), 1));

INSERT INTO order_items (order_id, line_number, product_id, quantity, unit_price, total_price, region) VALUES
  (1, 1, 'PROD-001', 1, 999.99, 999.99, 'North America'),
  (1, 2, 'PROD-002', 1, 29.99, 29.99, 'North America'),
  (2, 1, 'PROD-005', 1, 699.99, 699.99, 'North America'),
  (3, 1, 'PROD-003', 1, 199.99, 199.99, 'Europe'),
  (3, 2, 'PROD-004', 1, 49.99, 49.99, 'Europe'),
  (4, 1, 'PROD-006', 1, 399.99, 399.99, 'Europe'),
  (5, 1, 'PROD-005', 1, 699.99, 699.99, 'Asia Pacific'),
  (5, 2, 'PROD-002', 1, 29.99, 29.99, 'Asia Pacific'),
  (6, 1, 'PROD-007', 1, 89.99, 89.99, 'Latin America'),
  (6, 2, 'PROD-008', 1, 59.99, 59.99, 'Latin America'),
  (7, 1, 'PROD-001', 1, 999.99, 999.99, 'Asia Pacific'),
  (8, 1, 'PROD-002', 2, 29.99, 59.98, 'North America'),
  (8, 2, 'PROD-004', 1, 49.99, 49.99, 'North America'),
  (8, 3, 'PROD-008', 1, 59.99, 59.99, 'North America')
ON CONFLICT DO NOTHING;

INSERT INTO inventory (product_id, warehouse_id, quantity_on_hand, quantity_reserved, reorder_level, reorder_quantity, region) VALUES
  ('PROD-001', 1, 50, 5, 10, 100, 'North America'),
  ('PROD-002', 1, 200, 15, 25, 500, 'North America'),
  ('PROD-003', 2, 30, 3, 5, 50, 'Europe'),
  ('PROD-004', 2, 150, 10, 20, 300, 'Europe'),
  ('PROD-005', 3, 75, 8, 15, 200, 'Asia Pacific'),
  ('PROD-006', 3, 100, 12, 20, 250, 'Asia Pacific'),
  ('PROD-007', 4, 40, 2, 8, 100, 'Latin America'),
  ('PROD-008', 4, 80, 6, 15, 150, 'Latin America')
ON CONFLICT DO NOTHING;

CREATE OR REPLACE VIEW order_summary_by_region AS
SELECT region,
       count(*) AS total_orders,
       sum(total_amount) AS total_revenue,
       avg(total_amount) AS avg_order_value,
       count(*) FILTER (WHERE status = 'completed') AS completed_orders,
       count(*) FILTER (WHERE status = 'pending') AS pending_orders
FROM orders
GROUP BY region;

CREATE OR REPLACE VIEW customer_order_history AS
SELECT c.customer_id, c.first_name, c.last_name, c.region AS customer_region,
       count(o.order_id) AS total_orders,
       coalesce(sum(o.total_amount), 0) AS total_spent,
       avg(o.total_amount) AS avg_order_value,
       max(o.order_date) AS last_order_date
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.customer_id
GROUP BY c.customer_id, c.first_name, c.last_name, c.region;

CREATE OR REPLACE VIEW product_performance AS
SELECT p.product_id, p.product_name, p.category, p.region AS product_region,
       count(oi.order_id) AS times_ordered,
       coalesce(sum(oi.quantity), 0) AS total_quantity_sold,
       coalesce(sum(oi.total_price), 0) AS total_revenue,
       avg(oi.unit_price) AS avg_unit_price,
       (SELECT sum(i.quantity_on_hand) FROM inventory i WHERE i.product_id = p.product_id) AS current_stock
FROM products p
LEFT JOIN order_items oi ON oi.product_id = p.product_id
GROUP BY p.product_id, p.product_name, p.category, p.region;

-- Appends n generated orders (set-based: a million rows take seconds). Returns the number of rows added.
CREATE OR REPLACE FUNCTION generate_orders(n bigint) RETURNS bigint LANGUAGE sql AS $$
  WITH added AS (
    INSERT INTO orders (order_number, customer_id, order_date, status, total_amount, currency, region, shipping_city, notes, created_at, updated_at)
    SELECT 'ORD-G-' || lpad(g::text, 10, '0'),
           1001 + (g % 8)::int,
           timestamptz '2024-01-01 00:00:00+00' + (g % 31536000) * interval '1 second',
           (ARRAY['pending', 'paid', 'shipped', 'completed', 'cancelled'])[1 + (g % 5)::int],
           round((10 + (g * 7919 % 99000) / 100.0)::numeric, 2),
           (ARRAY['USD', 'EUR', 'JPY', 'BRL'])[1 + (g % 4)::int],
           (ARRAY['North America', 'Europe', 'Asia Pacific', 'Latin America'])[1 + (g % 4)::int],
           (ARRAY['New York', 'London', 'Tokyo', 'São Paulo', 'Sydney', 'Madrid'])[1 + (g % 6)::int],
           CASE WHEN g % 3 = 0 THEN NULL ELSE 'generated order ' || g END,
           timestamptz '2024-01-01 00:00:00+00' + (g % 31536000) * interval '1 second',
           timestamptz '2024-01-01 00:00:00+00' + (g % 31536000) * interval '1 second'
    FROM generate_series(1, n) AS g
    RETURNING 1)
  SELECT count(*) FROM added;
$$;
